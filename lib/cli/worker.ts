import { readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from './commander.js';
import { parseProtocol, type RqConfig } from '../config.js';
import { UsageError } from '../errors/UsageError.js';
import { Job } from '../Job.js';
import type { Redis } from 'ioredis';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../logging.js';
import { Queue, type JobClass } from '../Queue.js';
import { describeConnection, keysOf } from '../redis/connection.js';
import { discardEarlyHorse } from '../horse/fork.js';
import { instantiatePlugin, resolveDotted } from '../resolve.js';
import type { DeathPenaltyClass } from '../timeouts/BaseDeathPenalty.js';
import { POOL_ENV, reportToPool } from '../WorkerPool.js';
import { Worker, type ExceptionHandler, type HorseOptions, type QueueClass, type RqPlugin, type SentryOptions, type WorkerOptions } from '../Worker.js';
import { addSharedOptions, connectChecked, intArg, loadSettings, resolveSerializer, type SharedFlags } from './shared.js';

export interface WorkerFlags extends SharedFlags {
  burst?: boolean;
  /** commander keeps `--logging_level` under its own spelling. */
  logging_level?: string;
  logFormat?: string;
  dateFormat?: string;
  name?: string;
  resultsTtl?: number;
  workerTtl?: number;
  jobMonitoringInterval?: number;
  shutdownTimeout?: number;
  disableJobDescLogging?: boolean;
  exceptionHandler: string[];
  disableDefaultExceptionHandler?: boolean;
  maxJobs?: number;
  concurrency?: number;
  batch?: number;
  pid?: string;
  quiet?: boolean;
  withScheduler?: boolean;
  sentryDsn?: string;
  sentryCaCerts?: string;
  sentryDebug?: boolean;
  plugin: string[];
  preload: string[];
  allowModule: string[];
  horseMaxJobs?: number;
  horseMaxMemory?: number;
  horseLoop?: boolean;
  protocol?: 1 | 2 | 'auto';
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function workerCommand(): Command {
  const cmd = new Command('worker')
    .description('Starts an rq worker: runs jobs from the queues, in the order given (priority)')
    .argument('[queues...]', 'queues to listen on (default: QUEUES of the config, else "default")');
  addWorkerOptions(cmd, { name: true });
  cmd.action(async (queues: string[], flags: WorkerFlags, command: Command) => {
    process.exitCode = await runWorker(queues, flags, command);
  });
  return cmd;
}

/**
 * The options of `rq worker`. `rq worker-pool` takes them all but the name (it names its workers, and
 * its `-n` is the number of workers, as in rq 2.x) and hands them to each of its workers.
 */
export function addWorkerOptions(cmd: Command, { name }: { name: boolean }): Command {
  cmd
    .option('-b, --burst', 'Run in burst mode (quit after all work is done)')
    .addOption(new Option('--logging_level <level>', 'Set logging level').default('INFO').choices(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'debug', 'info', 'warning', 'error', 'critical']))
    .option('--log-format <format>', 'Set the format of the logs', '%(asctime)s %(message)s')
    .option('--date-format <format>', 'Set the date format of the logs', '%H:%M:%S');
  if (name) cmd.option('-n, --name <name>', 'Specify a different name (default: random)');
  cmd
    .option('--results-ttl <seconds>', 'Default results timeout to be used', intArg(-1, 'a whole number of seconds >= 0, or -1 to keep results forever'), 500)
    .option('--worker-ttl <seconds>', 'Default worker timeout to be used', intArg(1, 'a whole number of seconds >= 1'), 420)
    .option('--job-monitoring-interval <seconds>', 'Default job monitoring interval to be used', intArg(1, 'a whole number of seconds >= 1'), 30)
    .option('--shutdown-timeout <seconds>', 'After a stop signal, exit once Redis has not answered for this long [config: SHUTDOWN_TIMEOUT]', intArg(1, 'a whole number of seconds >= 1'))
    .option('--disable-job-desc-logging', 'Turn off description logging')
    .option('-v, --verbose', 'Show more output')
    .option('-q, --quiet', 'Show less output')
    .option('--sentry-ca-certs <file>', 'Path to CRT file for Sentry DSN [env: RQ_SENTRY_CA_CERTS]')
    .option('--sentry-debug', 'Enable debug [env: RQ_SENTRY_DEBUG]')
    .option('--sentry-dsn <dsn>', 'Report exceptions to this Sentry DSN [env: RQ_SENTRY_DSN]')
    .option('--exception-handler <path>', 'Exception handler(s) to use, in order (repeatable)', collect, [])
    .option('--pid <file>', 'Write the process ID number to a file at the specified path')
    .option('-d, --disable-default-exception-handler', 'Disable RQ\'s default exception handler (no FailedJobRegistry entry)')
    .option('--max-jobs <n>', 'Maximum number of jobs to execute', intArg(1, 'a whole number >= 1'))
    .option('--concurrency <n>', 'Run up to N async jobs at once, in one horse (or in the process with SimpleWorker) [config: CONCURRENCY]', intArg(1, 'a whole number >= 1'))
    .option('--batch <n>', 'record up to N short jobs in one call (1: one call per job) [config: BATCH]', intArg(1, 'a whole number >= 1'))
    .option('-s, --with-scheduler', 'Run worker with scheduler')
    .option('--plugin <path>', 'Plugin (dotted path) to apply, repeatable; also runs in the work horse', collect, [])
    .option('--allow-module <prefix>', 'Module prefix job functions may come from, repeatable (default: any module under the paths, no installed package) [config: JOB_MODULES]', collect, [])
    .option('--preload <module>', 'Module the work horse imports before its first job, repeatable', collect, [])
    .option('--horse-max-jobs <n>', 'Replace the work horse after this many jobs', intArg(1, 'a whole number >= 1'))
    .option('--horse-max-memory <MiB>', 'Replace the work horse when it uses more memory than this after a job', intArg(1, 'a whole number of MiB >= 1'))
    .option('--horse-loop', 'The work horse takes, runs and records its jobs itself; fail at start if it cannot (default: when it can) [config: HORSE_LOOP]')
    .option('--no-horse-loop', 'Every job goes from the worker to the work horse and back [config: HORSE_LOOP = false]')
    .option(
      '--protocol <1|2|auto>',
      "python-rq wire protocol claims write: 1 (rq 1.13's bare ids; default), 2 (rq 2.x's executions), auto (2 unless a python-rq 1.x worker is registered) [config: PROTOCOL, env: RQ_PROTOCOL]",
      (v: string) => {
        const p = parseProtocol(v);
        if (p === null) throw new InvalidArgumentError('expected 1, 2 or auto');
        return p;
      },
    );
  return addSharedOptions(cmd);
}

export function logLevel(flags: WorkerFlags, config: RqConfig, cmd: Command): LogLevel {
  if (flags.verbose && flags.quiet) throw new UsageError('--verbose and --quiet are mutually exclusive: give at most one');
  if (flags.verbose) return 'DEBUG';
  if (flags.quiet) return 'WARNING';
  const fromCli = cmd.getOptionValueSource('logging_level') === 'cli';
  const explicit = fromCli ? flags.logging_level : (config.LOGGING_LEVEL ?? flags.logging_level);
  const level = (explicit ?? 'INFO').toUpperCase();
  if (!(level in LOG_LEVELS)) throw new UsageError(`LOGGING_LEVEL ${JSON.stringify(explicit)}: expected one of ${Object.keys(LOG_LEVELS).join(', ')}`);
  return level as LogLevel;
}

/** A flag's value if given on the command line, else the config's, else the flag's default. */
export function pick<T>(cmd: { getOptionValueSource(key: string): string | undefined }, flags: Record<string, unknown>, flagKey: string, configValue: T | undefined): T {
  const source = cmd.getOptionValueSource(flagKey);
  if (source === 'cli' || configValue === undefined) return flags[flagKey] as T;
  return configValue;
}

/**
 * A typo in a queue name (`rq worker defualt`) would listen forever on a queue nobody uses: a name
 * that rq:queues does not list and that has no jobs in its list or any registry gets one warning.
 */
async function warnUnknownQueues(connection: Redis, names: readonly string[], logger: Logger): Promise<void> {
  const keys = keysOf(connection);
  const pipe = connection.pipeline();
  for (const q of names) {
    pipe.sismember(keys.queues, keys.queue(q));
    pipe.exists(keys.queue(q), keys.started(q), keys.finished(q), keys.failed(q), keys.deferred(q), keys.scheduled(q), keys.canceled(q));
  }
  const replies = (await pipe.exec()) ?? [];
  names.forEach((q, i) => {
    const [[, listed] = [], [, used] = []] = [replies[2 * i] ?? [], replies[2 * i + 1] ?? []];
    if (listed === 0 && used === 0) logger.warning(`Queue '${q}' has no jobs and is not known to Redis; listening anyway`);
  });
}

export async function runWorker(queueArgs: string[], flags: WorkerFlags, cmd: Command): Promise<number> {
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);
  const settings = await loadSettings(flags, warn);
  const c = settings.config;
  const level = logLevel(flags, c, cmd);
  const logger = createLogger({
    level,
    format: pick(cmd, flags as unknown as Record<string, unknown>, 'logFormat', c.LOG_FORMAT),
    dateFormat: pick(cmd, flags as unknown as Record<string, unknown>, 'dateFormat', c.DATE_FORMAT),
  });
  const f = flags as unknown as Record<string, unknown>;
  const queueNames = queueArgs.length > 0 ? queueArgs : (c.QUEUES ?? ['default']);
  const where = settings.resolve;

  const WorkerClass = c.WORKER_CLASS ? ((await resolveDotted(c.WORKER_CLASS, where, 'class', '--worker-class')) as typeof Worker) : Worker;
  if (!(WorkerClass.prototype instanceof Worker) && WorkerClass !== Worker) {
    throw new UsageError(`--worker-class ${c.WORKER_CLASS}: ${WorkerClass.name} does not extend rq-ts's Worker`);
  }
  const jobClass = c.JOB_CLASS ? ((await resolveDotted(c.JOB_CLASS, where, 'class', '--job-class')) as JobClass) : undefined;
  if (jobClass && !(jobClass.prototype instanceof Job) && jobClass !== Job) {
    throw new UsageError(`--job-class ${c.JOB_CLASS}: ${jobClass.name} does not extend rq-ts's Job`);
  }
  const queueClass = c.QUEUE_CLASS ? ((await resolveDotted(c.QUEUE_CLASS, where, 'class', '--queue-class')) as QueueClass) : undefined;
  if (queueClass && !(queueClass.prototype instanceof Queue) && queueClass !== Queue) {
    throw new UsageError(`--queue-class ${c.QUEUE_CLASS}: ${queueClass.name} does not extend rq-ts's Queue`);
  }
  const deathPenaltyClass = c.DEATH_PENALTY_CLASS
    ? ((await resolveDotted(c.DEATH_PENALTY_CLASS, where, 'class', 'DEATH_PENALTY_CLASS')) as DeathPenaltyClass)
    : undefined;
  const serializer = await resolveSerializer(settings);

  const handlerPaths: (string | ExceptionHandler)[] = flags.exceptionHandler.length > 0 ? flags.exceptionHandler : ((c.EXCEPTION_HANDLERS as (string | ExceptionHandler)[] | undefined) ?? []);
  const exceptionHandlers: ExceptionHandler[] = [];
  for (const h of handlerPaths) {
    exceptionHandlers.push(typeof h === 'string' ? ((await resolveDotted(h, where, 'function', '--exception-handler')) as ExceptionHandler) : h);
  }
  const pluginSpecs = [...((c.PLUGINS as (string | RqPlugin)[] | undefined) ?? []), ...flags.plugin];
  const plugins: RqPlugin[] = [];
  for (const p of pluginSpecs) plugins.push(typeof p === 'string' ? ((await instantiatePlugin(p, where)) as RqPlugin) : p);
  const sentryDsn = flags.sentryDsn ?? c.SENTRY_DSN;
  let sentryOptions: SentryOptions | undefined;
  if (sentryDsn) {
    const sentry: SentryOptions = { dsn: sentryDsn, debug: flags.sentryDebug ?? c.SENTRY_DEBUG ?? false };
    const caCerts = flags.sentryCaCerts ?? c.SENTRY_CA_CERTS;
    if (caCerts) {
      try {
        sentry.caCerts = readFileSync(caCerts);
      } catch (cause) {
        throw new UsageError(`--sentry-ca-certs ${caCerts}: cannot read the file (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
      }
    }
    sentryOptions = sentry;
  }

  const horse: HorseOptions = {
    plugins: pluginSpecs.filter((p): p is string => typeof p === 'string'),
    preload: [...(c.PRELOAD ?? []), ...flags.preload],
  };
  if (c.WORKER_CLASS) horse.workerClass = c.WORKER_CLASS;
  if (c.JOB_CLASS) horse.jobClass = c.JOB_CLASS;
  if (c.QUEUE_CLASS) horse.queueClass = c.QUEUE_CLASS;
  if (c.CONNECTION_CLASS) horse.connectionClass = c.CONNECTION_CLASS;
  if (c.SERIALIZER) horse.serializer = c.SERIALIZER === 'json' ? 'rq.serializers.JSONSerializer' : c.SERIALIZER;
  const horseMaxJobs = flags.horseMaxJobs ?? c.HORSE_MAX_JOBS;
  const horseMaxMemory = flags.horseMaxMemory ?? c.HORSE_MAX_MEMORY_MB;
  if (horseMaxJobs !== undefined) horse.maxJobs = horseMaxJobs;
  if (horseMaxMemory !== undefined) horse.maxMemoryMb = horseMaxMemory;
  const horseLoop = flags.horseLoop ?? c.HORSE_LOOP;
  if (horseLoop !== undefined) horse.loop = horseLoop;
  // Handlers named by dotted path are resolved again in a horse that takes its own jobs.
  if (handlerPaths.length > 0 && handlerPaths.every((h): h is string => typeof h === 'string')) horse.exceptionHandlers = handlerPaths;

  const connection = await connectChecked(settings);
  logger.info(`Redis: ${describeConnection(connection)} (from ${settings.connectionSource})`);
  try {
    if (await connection.exists(keysOf(connection).suspended)) {
      logger.error('RQ is currently suspended, to resume job execution run "rq resume"');
      return 1;
    }
    const options: WorkerOptions = {
      connection,
      logger,
      paths: settings.paths,
      resultTtl: pick(cmd, f, 'resultsTtl', c.RESULTS_TTL),
      workerTtl: pick(cmd, f, 'workerTtl', c.WORKER_TTL),
      jobMonitoringInterval: pick(cmd, f, 'jobMonitoringInterval', c.JOB_MONITORING_INTERVAL),
      exceptionHandlers,
      disableDefaultExceptionHandler: flags.disableDefaultExceptionHandler ?? c.DISABLE_DEFAULT_EXCEPTION_HANDLER ?? false,
      disableJobDescLogging: flags.disableJobDescLogging ?? c.DISABLE_JOB_DESC_LOGGING ?? false,
      plugins,
      horse,
    };
    const name = flags.name ?? c.NAME;
    if (name) options.name = name;
    if (jobClass) options.jobClass = jobClass;
    if (queueClass) options.queueClass = queueClass;
    if (deathPenaltyClass) options.deathPenaltyClass = deathPenaltyClass;
    if (serializer) options.serializer = serializer;
    if (c.MAINTENANCE_INTERVAL) options.maintenanceInterval = c.MAINTENANCE_INTERVAL;
    const protocol = flags.protocol ?? c.PROTOCOL;
    if (protocol !== undefined) options.protocol = protocol;
    const shutdownTimeout = flags.shutdownTimeout ?? c.SHUTDOWN_TIMEOUT;
    if (shutdownTimeout !== undefined) options.shutdownTimeout = shutdownTimeout;
    const maxJobs = flags.maxJobs ?? c.MAX_JOBS;
    if (maxJobs !== undefined) options.maxJobs = maxJobs;
    const concurrency = flags.concurrency ?? c.CONCURRENCY;
    if (concurrency !== undefined) options.concurrency = concurrency;
    const batch = flags.batch ?? c.BATCH;
    if (batch !== undefined) options.batch = batch;
    if (flags.pid) writeFileSync(flags.pid, String(process.pid));
    if (flags.withScheduler) options.withScheduler = true;
    if (sentryOptions) options.sentry = sentryOptions;
    const allowed = flags.allowModule.length > 0 ? flags.allowModule : c.JOB_MODULES;
    if (allowed) options.allowedModules = allowed;
    // The implicit `default` is no typo: only names someone wrote (arguments, QUEUES) are checked.
    if (queueArgs.length > 0 || c.QUEUES) await warnUnknownQueues(connection, queueNames, logger);
    const worker = new WorkerClass(queueNames, options);
    // Forked before the worker class was known (lib/horse/fork.ts): a worker that runs its own jobs needs none.
    if (worker.horseKind !== 'process') discardEarlyHorse();
    if (process.env[POOL_ENV]) reportToPool(worker);
    await worker.work({ burst: flags.burst ?? false });
    return 0;
  } finally {
    connection.disconnect();
  }
}
