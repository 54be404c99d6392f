import { Command, InvalidArgumentError, Option } from './commander.js';
import { CronScheduler, checkEntries, takeRegisteredEntries } from '../CronScheduler.js';
import { ConfigError } from '../errors/ConfigError.js';
import { MissingDependencyError } from '../errors/MissingDependencyError.js';
import { ResolveError } from '../errors/ResolveError.js';
import { createLogger, type LogLevel } from '../logging.js';
import { importModule } from '../resolve.js';
import { addSharedOptions, connectChecked, loadSettings, resolveSerializer, type SharedFlags } from './shared.js';

interface CronFlags extends SharedFlags {
  loggingLevel: string;
  name?: string;
}

function schedulerName(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('a scheduler name cannot be empty.');
  return value;
}

export function cronCommand(): Command {
  const cmd = new Command('cron')
    .description('Starts a cron scheduler: enqueues the jobs a config module registers (cron.register) on their schedule')
    .argument('<config>', 'the cron config: a file (cron.config.ts) or a dotted module path (app.cron_config)')
    // rq 2.10's CronScheduler takes a name (its `rq cron` has no option for it); the default is 2.10's.
    .option('-n, --name <name>', 'The name this scheduler registers under in rq:cron_schedulers (default: <host>:<pid>:<6 hex digits>, as rq 2.10); it must be unique among the running ones', schedulerName)
    .addOption(new Option('-l, --logging-level <level>', 'Set logging level').default('INFO').choices(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'debug', 'info', 'warning', 'error', 'critical']));
  addSharedOptions(cmd);
  cmd.action(async (configPath: string, flags: CronFlags) => {
    const settings = await loadSettings(flags, (line) => void process.stderr.write(`${line}\n`));
    const c = settings.config;
    const logger = createLogger({ level: flags.loggingLevel.toUpperCase() as LogLevel, ...(c.LOG_FORMAT ? { format: c.LOG_FORMAT } : {}), ...(c.DATE_FORMAT ? { dateFormat: c.DATE_FORMAT } : {}) });
    logger.info(`Loading cron configuration from ${configPath}`);
    takeRegisteredEntries();
    let entries;
    try {
      try {
        await importModule(configPath, settings.resolve);
      } catch (cause) {
        throw new ConfigError(`cannot be loaded: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
      entries = takeRegisteredEntries();
      await checkEntries(entries, settings.resolve);
    } catch (err) {
      // rq 2.x's exit code for a cron config it cannot use.
      if (!(err instanceof ConfigError || err instanceof ResolveError || err instanceof MissingDependencyError)) throw err;
      process.stderr.write(`Error: cron config ${configPath}: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    const serializer = await resolveSerializer(settings);
    const connection = await connectChecked(settings);
    const scheduler = new CronScheduler({ connection, logger, configFile: configPath, ...(flags.name !== undefined ? { name: flags.name } : {}), ...(serializer ? { serializer } : {}) });
    await scheduler.register(entries);
    logger.info(`Successfully registered ${entries.length} cron jobs from '${configPath}'`);
    const onSignal = (signal: NodeJS.Signals): void => {
      logger.info(`CronScheduler ${scheduler.name}: received shutdown signal ${signal}`);
      scheduler.stop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await scheduler.run();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      connection.disconnect();
    }
  });
  return cmd;
}
