import { Command, InvalidArgumentError } from './commander.js';
import { validateQueueName } from '../Queue.js';
import { jobPage } from '../monitor.js';
import { parseRegistryName, type RegistryName } from '../registries/byName.js';
import { openCli } from './context.js';
import { addSharedOptions, intArg, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface JobsFlags extends SharedFlags {
  registry: RegistryName;
  limit: number;
  offset: number;
  json?: boolean;
}

function registryArg(value: string): RegistryName {
  try {
    return parseRegistryName(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `rq jobs QUEUE [--registry R] [--limit N] [--offset M] [--json]`: one page of a queue's jobs in a registry. */
export function jobsCommand(): Command {
  const cmd = new Command('jobs')
    .description('List the jobs of a queue in one registry (queued, started, scheduled, deferred, finished, failed, canceled).')
    .argument('<queue>', 'queue name')
    .option('-r, --registry <name>', 'queued, started, scheduled, deferred, finished, failed or canceled', registryArg, 'queued' as RegistryName)
    .option('-l, --limit <n>', 'Jobs per page (0 = all)', intArg(0), 20)
    .option('-o, --offset <n>', 'Jobs to skip (waiting jobs from the head, registries oldest first)', intArg(0), 0)
    .option('--json', 'Print JSON: { total, offset, limit, jobs: [...] }');
  addSharedOptions(cmd);
  cmd.action(async (queue: string, flags: JobsFlags) => {
    process.exitCode = await runJobs(queue, flags);
  });
  return cmd;
}

export async function runJobs(queueName: string, flags: JobsFlags): Promise<number> {
  const name = validateQueueName(queueName);
  const registry = flags.registry;
  const cli = await openCli(flags);
  try {
    const queue = new cli.queueClass(name, cli.queueOptions());
    const page = await jobPage(queue, registry, flags.offset, flags.limit, {
      connection: cli.connection,
      ...(cli.jobClass ? { jobClass: cli.jobClass } : {}),
      registryOptions: cli.registryOptions(),
    });
    if (flags.json) {
      out(JSON.stringify(page, null, 2));
      return 0;
    }
    for (const j of page.jobs) out(`${j.id} ${j.status ?? '?'} ${j.callString ?? `(${j.error ?? 'unreadable'})`}`);
    const shown = page.jobs.length === 0 ? 'no jobs' : `jobs ${flags.offset + 1}-${flags.offset + page.jobs.length}`;
    out(`${shown} of ${page.total} ${registry} in queue ${name}`);
    return 0;
  } finally {
    cli.close();
  }
}
