import { Command, InvalidArgumentError } from './commander.js';
import { openCli } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface SuspendFlags extends SharedFlags {
  duration?: number;
}

function integer(value: string): number {
  if (!/^\s*[+-]?\d+\s*$/.test(value)) throw new InvalidArgumentError(`'${value}' is not a valid integer.`);
  return Number(value);
}

/** `rq suspend [--duration N]`: `SET rq:suspended 1` (with `EX N`); workers finish their job, then wait. */
export function suspendCommand(): Command {
  const cmd = new Command('suspend')
    .description('Suspends all workers, to resume run `rq resume`')
    .option('--duration <seconds>', 'Seconds you want the workers to be suspended.  Default is forever.', integer);
  addSharedOptions(cmd);
  cmd.action(async (flags: SuspendFlags) => {
    process.exitCode = await runSuspend(flags);
  });
  return cmd;
}

export async function runSuspend(flags: SuspendFlags): Promise<number> {
  const { duration } = flags;
  if (duration !== undefined && duration < 1) {
    process.stderr.write('Duration must be an integer greater than 1\n');
    return 1;
  }
  const cli = await openCli(flags);
  try {
    if (duration !== undefined) await cli.connection.set(cli.keys.suspended, '1', 'EX', duration);
    else await cli.connection.set(cli.keys.suspended, '1');
  } finally {
    cli.close();
  }
  if (duration !== undefined) {
    out(`Suspending workers for ${duration} seconds.  No new jobs will be started during that time, but then will automatically resume`);
  } else {
    out('Suspending workers.  No new jobs will be started.  But current jobs will be completed');
  }
  return 0;
}
