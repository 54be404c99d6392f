#!/usr/bin/env node
import { Command, CommanderError } from './commander.js';
import { formatException } from '../execute.js';
import { ConfigError } from '../errors/ConfigError.js';
import { InvalidRedisUrlError } from '../errors/InvalidRedisUrlError.js';
import { RedisConnectionError } from '../errors/RedisConnectionError.js';
import { ResolveError } from '../errors/ResolveError.js';
import { UsageError } from '../errors/UsageError.js';
import { RQ_TS_VERSION } from '../version.js';
import { builtinPlugins } from '../../plugins/index.js';
import { useBuiltins } from '../Worker.js';
import { cronCommand } from './cron.js';
import { dashboardCommand } from './dashboard.js';
import { emptyCommand } from './empty.js';
import { enqueueCommand } from './enqueue.js';
import { infoCommand } from './info.js';
import { jobCommand } from './job.js';
import { jobsCommand } from './jobs.js';
import { metricsCommand } from './metrics.js';
import { requeueCommand } from './requeue.js';
import { resumeCommand } from './resume.js';
import { suspendCommand } from './suspend.js';

// The CLI is an edge: the workers it starts get the built-in plugins.
useBuiltins(builtinPlugins);
import { workerCommand } from './worker.js';
import { workerPoolCommand } from './workerPool.js';

/** rq's exit codes: 2 for usage errors (bad flags, config, dotted paths), 1 when Redis cannot be reached. */
function exitCodeFor(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof ResolveError || err instanceof InvalidRedisUrlError) return 2;
  if (err instanceof RedisConnectionError) return 1;
  return 1;
}

export function buildProgram(): Command {
  const program = new Command('rq')
    .description('rq-ts: python-rq\'s job queue and workers, in TypeScript')
    .version(RQ_TS_VERSION, '--version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str) });
  const worker = workerCommand().exitOverride().showHelpAfterError('(run "rq worker --help" for usage)');
  program.addCommand(worker);
  for (const cmd of [workerPoolCommand(), cronCommand(), infoCommand(), emptyCommand(), requeueCommand(), suspendCommand(), resumeCommand(), enqueueCommand(), jobsCommand(), jobCommand(), dashboardCommand(), metricsCommand()]) {
    program.addCommand(cmd.exitOverride().showHelpAfterError(`(run "rq ${cmd.name()} --help" for usage)`));
  }
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
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

await main(process.argv);
