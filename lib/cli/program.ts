/** The `rq` program: its commands, parsing, and the exit code of what failed (started by lib/cli/main.ts). */
import { Command, CommanderError } from './commander.js';
import { formatException } from '../execute.js';
import { ConfigError } from '../errors/ConfigError.js';
import { InvalidRedisUrlError } from '../errors/InvalidRedisUrlError.js';
import { RedisConnectionError } from '../errors/RedisConnectionError.js';
import { ResolveError } from '../errors/ResolveError.js';
import { UsageError } from '../errors/UsageError.js';
import { RQ_TS_VERSION } from '../version.js';

/**
 * The commands, in the order of `rq --help`, each module imported only when its command is built.
 * `rq worker` (the start-up a deployment waits on) then loads and builds none of the others.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  worker: async () => (await import('./worker.js')).workerCommand(),
  'worker-pool': async () => (await import('./workerPool.js')).workerPoolCommand(),
  cron: async () => (await import('./cron.js')).cronCommand(),
  info: async () => (await import('./info.js')).infoCommand(),
  empty: async () => (await import('./empty.js')).emptyCommand(),
  requeue: async () => (await import('./requeue.js')).requeueCommand(),
  suspend: async () => (await import('./suspend.js')).suspendCommand(),
  resume: async () => (await import('./resume.js')).resumeCommand(),
  enqueue: async () => (await import('./enqueue.js')).enqueueCommand(),
  jobs: async () => (await import('./jobs.js')).jobsCommand(),
  job: async () => (await import('./job.js')).jobCommand(),
  dashboard: async () => (await import('./dashboard.js')).dashboardCommand(),
  metrics: async () => (await import('./metrics.js')).metricsCommand(),
};

/** rq's exit codes: 2 for usage errors (bad flags, config, dotted paths), 1 when Redis cannot be reached. */
function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof ResolveError || err instanceof InvalidRedisUrlError) return 2;
  if (err instanceof RedisConnectionError) return 1;
  return 1;
}

/**
 * The program with the command named by `argv` only, when it names one (its help, errors and
 * options are its own either way), else with every command (`rq --help`, a typo's suggestion).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('rq')
    .description('rq-ts: python-rq\'s job queue and workers, in TypeScript')
    .version(RQ_TS_VERSION, '--version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  const named = argv[2];
  const names = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  for (const cmd of await Promise.all(names.map((name) => COMMANDS[name]!()))) {
    program.addCommand(cmd.exitOverride().showHelpAfterError(`(run "rq ${cmd.name()} --help" for usage)`));
  }
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(argv);
  // -q and -v together is itself the usage error; it gets no stack trace.
  const quiet = argv.includes('-q') || argv.includes('--quiet');
  const verbose = (argv.includes('-v') || argv.includes('--verbose')) && !quiet;
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version print and exit 0; every other commander error is a usage error.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
    if (verbose) process.stderr.write(`${formatException(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}

