import { Command } from './commander.js';
import type { Queue } from '../Queue.js';
import { openCli } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface EmptyFlags extends SharedFlags {
  all?: boolean;
}

/** `rq empty [-a] [QUEUES...]`: removes the waiting jobs (ids and hashes) of the queues. */
export function emptyCommand(): Command {
  const cmd = new Command('empty')
    .description('Empty given queues.')
    .argument('[queues...]', 'queues to empty')
    .option('-a, --all', 'Empty all queues');
  addSharedOptions(cmd);
  cmd.action(async (queues: string[], flags: EmptyFlags) => {
    process.exitCode = await runEmpty(queues, flags);
  });
  return cmd;
}

export async function runEmpty(names: string[], flags: EmptyFlags): Promise<number> {
  const cli = await openCli(flags);
  try {
    const queues: Queue[] = flags.all ? await cli.queueClass.all(cli.queueOptions()) : names.map((n) => new cli.queueClass(n, cli.queueOptions()));
    if (queues.length === 0) {
      out('Nothing to do');
      return 0;
    }
    for (const queue of queues) {
      const removed = await queue.empty();
      out(`${removed} jobs removed from ${queue.name} queue`);
    }
    return 0;
  } finally {
    cli.close();
  }
}
