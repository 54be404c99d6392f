import { writeFileSync } from 'node:fs';
import { Command, Option } from './commander.js';
import { createLogger } from '../logging.js';
import { WorkerPool } from '../WorkerPool.js';
import { intArg, loadSettings } from './shared.js';
import { addWorkerOptions, logLevel, pick, type WorkerFlags } from './worker.js';

interface PoolFlags extends WorkerFlags {
  numWorkers: number;
  loggingLevel?: string;
}

/** The pool's own options, not handed to its workers: --pid is the pool's (the process to signal). */
const POOL_ONLY = new Set(['numWorkers', 'loggingLevel', 'pid']);

export function workerPoolCommand(): Command {
  const cmd = new Command('worker-pool')
    .description('Starts a pool of rq workers: N worker processes, each replaced when it dies, stopped together')
    .argument('[queues...]', 'queues to listen on (default: QUEUES of the config, else "default")')
    .option('-n, --num-workers <n>', 'Number of workers to start', intArg(1, 'a whole number >= 1'), 1)
    // rq 2.x spells it --logging-level (-l); rq worker keeps 1.13's --logging_level, taken here too.
    .addOption(new Option('-l, --logging-level <level>', 'Set logging level (as --logging_level)').choices(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL', 'debug', 'info', 'warning', 'error', 'critical']));
  addWorkerOptions(cmd, { name: false });
  cmd.action(async (queues: string[], flags: PoolFlags, command: Command) => {
    if (flags.loggingLevel !== undefined) command.setOptionValueWithSource('logging_level', flags.loggingLevel, 'cli');
    const settings = await loadSettings(flags, (line) => void process.stderr.write(`${line}\n`));
    const c = settings.config;
    const f = flags as unknown as Record<string, unknown>;
    const logger = createLogger({
      level: logLevel(command.opts<WorkerFlags>(), c, command),
      format: pick(command, f, 'logFormat', c.LOG_FORMAT),
      dateFormat: pick(command, f, 'dateFormat', c.DATE_FORMAT),
    });
    if (flags.pid) writeFileSync(flags.pid, String(process.pid));
    // rq 2.x's pool runs every worker with a scheduler (they take turns through its lock), so that jobs
    // scheduled for later run under a pool alone.
    const workerArgs = [...queues, ...forwardedFlags(command), ...(flags.withScheduler ? [] : ['--with-scheduler'])];
    const pool = new WorkerPool({ numWorkers: flags.numWorkers, workerArgs, burst: flags.burst ?? false, logger });
    process.exitCode = await pool.run();
  });
  return cmd;
}

/**
 * The flags given on the command line, as `rq worker` arguments: each worker parses them (and reads
 * the config file and environment, which it inherits) exactly as a worker started by hand would.
 */
function forwardedFlags(cmd: Command): string[] {
  const args: string[] = [];
  for (const opt of cmd.options) {
    const key = opt.attributeName();
    if (POOL_ONLY.has(key) || cmd.getOptionValueSource(key) !== 'cli') continue;
    const value: unknown = cmd.getOptionValue(key);
    const flag = opt.long ?? opt.short!;
    // --horse-loop and --no-horse-loop share one key: each is passed when its own value is set.
    if (opt.negate) {
      if (value === false) args.push(flag);
    } else if (opt.isBoolean()) {
      if (value === true) args.push(flag);
    } else if (Array.isArray(value)) {
      for (const v of value) args.push(flag, String(v));
    } else {
      args.push(flag, String(value));
    }
  }
  return args;
}
