import { Command } from './commander.js';
import { jobDetail, type JobDetailView } from '../monitor.js';
import { openCli } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface JobFlags extends SharedFlags {
  json?: boolean;
}

/** `rq job ID [--json]`: everything about one job, whatever registry it is in. */
export function jobCommand(): Command {
  const cmd = new Command('job')
    .description('Show one job: call, status, timestamps, meta, dependencies, result or traceback, results history.')
    .argument('<job_id>', 'job id')
    .option('--json', 'Print the job as JSON');
  addSharedOptions(cmd);
  cmd.action(async (id: string, flags: JobFlags) => {
    process.exitCode = await runJob(id, flags);
  });
  return cmd;
}

function text(j: JobDetailView): string[] {
  const lines: string[] = [];
  const line = (name: string, value: unknown): void => {
    if (value !== null && value !== undefined && !(Array.isArray(value) && value.length === 0)) lines.push(`${`${name}:`.padEnd(16)} ${Array.isArray(value) ? value.join(', ') : String(value)}`);
  };
  line('id', j.id);
  line('call', j.callString);
  line('status', j.status);
  line('queue', j.origin);
  line('description', j.description);
  line('worker', j.workerName);
  line('created', j.createdAt);
  line('enqueued', j.enqueuedAt);
  line('scheduled for', j.scheduledFor);
  line('started', j.startedAt);
  line('ended', j.endedAt);
  line('last heartbeat', j.lastHeartbeat);
  line('timeout', j.timeout);
  line('result ttl', j.resultTtl);
  line('failure ttl', j.failureTtl);
  line('retries left', j.retriesLeft);
  line('depends on', j.dependencyIds);
  line('dependents', j.dependentIds);
  if (Object.keys(j.meta).length > 0) line('meta', JSON.stringify(j.meta));
  line('result', j.result);
  line('results', j.results.length > 0 ? j.results.map((r) => `${r.type} at ${r.createdAt}`).join('; ') : null);
  line('error', j.error);
  if (j.excInfo !== null) lines.push('exc_info:', j.excInfo.trimEnd());
  return lines;
}

export async function runJob(id: string, flags: JobFlags): Promise<number> {
  const cli = await openCli(flags);
  try {
    const detail = await jobDetail(id, { connection: cli.connection, ...(cli.jobClass ? { jobClass: cli.jobClass } : {}), registryOptions: cli.registryOptions() });
    out(flags.json ? JSON.stringify(detail, null, 2) : text(detail).join('\n'));
    return 0;
  } finally {
    cli.close();
  }
}
