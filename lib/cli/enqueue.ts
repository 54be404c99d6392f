import { Command } from './commander.js';
import { NoSuchJobError } from '../errors/NoSuchJobError.js';
import { UsageError } from '../errors/UsageError.js';
import { parseTimeout } from '../Job.js';
import { pyrepr } from '../pyrepr.js';
import type { EnqueueCallOptions } from '../Queue.js';
import { openCli } from './context.js';
import { parseFunctionArgs } from './funcargs.js';
import { addSharedOptions, intArg, type SharedFlags } from './shared.js';
import { out, style } from './style.js';

interface EnqueueFlags extends SharedFlags {
  queue: string;
  timeout?: string;
  resultTtl?: number;
  ttl?: number;
  failureTtl?: number;
  description?: string;
  dependsOn: string[];
  jobId?: string;
  atFront?: boolean;
  retryMax: number;
  retryInterval: readonly number[];
  scheduleIn?: string;
  scheduleAt?: string;
  quiet?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];
const interval = intArg(0, 'a whole number of seconds >= 0');
/** rq's default `--retry-interval` ([0]), replaced (not extended) by the first one given. */
const DEFAULT_INTERVALS: readonly number[] = [0];

/** `rq enqueue FUNC [ARGUMENTS...]`: one job from the command line (argument syntax in funcargs.ts). */
export function enqueueCommand(): Command {
  const cmd = new Command('enqueue')
    .description('Enqueues a job from the command line')
    .argument('<function>', "dotted path of the job's function, e.g. tasks.send_mail")
    .argument('[arguments...]', "the call's arguments: v, k=v (strings), :json, k:=json, %literal, k%=literal, @file, k=@file")
    .option('-q, --queue <name>', 'The name of the queue.', 'default')
    .option('--timeout <duration>', 'Specifies the maximum runtime of the job before it is interrupted and marked as failed (seconds, or 30s/5m/1h/2d; -1 = none).')
    .option('--result-ttl <seconds>', 'Specifies how long successful jobs and their results are kept (-1 = forever).', intArg(-1, 'a whole number of seconds >= 0, or -1'))
    .option('--ttl <seconds>', 'Specifies the maximum queued time of the job before it is discarded.', intArg(-1, 'a whole number of seconds >= 0, or -1'))
    .option('--failure-ttl <seconds>', 'Specifies how long failed jobs are kept.', intArg(-1, 'a whole number of seconds >= 0, or -1'))
    .option('--description <text>', 'Additional description of the job')
    .option('--depends-on <job_id>', 'Specifies another job id that must complete before this job will be queued (repeatable).', collect, [])
    .option('--job-id <id>', 'The id of this job')
    .option('--at-front', 'Will place the job at the front of the queue, instead of the end')
    .option('--retry-max <n>', 'Maximum amount of retries', intArg(0, 'a whole number >= 0'), 0)
    .option(
      '--retry-interval <seconds>',
      'Interval between retries in seconds (repeatable: one per retry, the last repeats)',
      (value: string, previous: readonly number[]) => [...(previous === DEFAULT_INTERVALS ? [] : previous), interval(value)],
      DEFAULT_INTERVALS,
    )
    .option('--schedule-in <duration>', 'Delay until the function is enqueued (e.g. 10s, 5m, 2d).')
    .option('--schedule-at <datetime>', 'Schedule job to be enqueued at a certain time formatted in ISO 8601 without timezone (e.g. 2021-05-27T21:45:00), local time.')
    .option('--quiet', 'Only logs errors.');
  addSharedOptions(cmd);
  cmd.action(async (func: string, argv: string[], flags: EnqueueFlags) => {
    process.exitCode = await runEnqueue(func, argv, flags);
  });
  return cmd;
}

/** rq's get_call_string without truncation, which the CLI prints and uses as the description. */
function fullCallString(func: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): string {
  const kw = Object.entries(kwargs).map(([k, v]) => `${k}=${pyrepr(v)}`);
  kw.sort();
  return `${func}(${[...args.map((a) => pyrepr(a)), ...kw].join(', ')})`;
}

/** `--schedule-in 10s|5m|2h|2d|90` -> seconds from now. */
function scheduleInSeconds(value: string): number {
  let seconds: number | null;
  try {
    seconds = parseTimeout(value);
  } catch {
    seconds = null;
  }
  if (seconds === null || seconds < 0) {
    throw new UsageError(`Invalid value for '--schedule-in': "${value}" is not a duration: use whole seconds or a number followed by s, m, h or d (e.g. 10s, 5m, 2d)`);
  }
  return seconds;
}

const SCHEDULE_AT = /^(\d{4})-(\d{1,2})-(\d{1,2})T(\d{1,2}):(\d{1,2}):(\d{1,2})$/;

/** `--schedule-at 2021-05-27T21:45:00`: a naive time, read as local time (as rq does). */
function scheduleAtDate(value: string): Date {
  const m = SCHEDULE_AT.exec(value);
  const [y, mo, d, h, mi, s] = (m ?? []).slice(1).map(Number) as [number, number, number, number, number, number];
  const date = m ? new Date(y, mo - 1, d, h, mi, s) : null;
  if (!date || date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new UsageError(`Invalid value for '--schedule-at': "${value}" is not a date and time in the format YYYY-MM-DDTHH:MM:SS (local time, e.g. 2021-05-27T21:45:00)`);
  }
  return date;
}

function checkTimeout(value: string | undefined): void {
  if (value === undefined) return;
  let seconds: number | null = null;
  try {
    seconds = parseTimeout(value);
  } catch {
    seconds = null;
  }
  if (seconds === null || (seconds !== -1 && seconds <= 0)) {
    throw new UsageError(`Invalid value for '--timeout': "${value}": use whole seconds > 0 or a number followed by s, m, h or d (e.g. 90, 30s, 2h), or -1 for no limit`);
  }
}

export async function runEnqueue(func: string, argv: string[], flags: EnqueueFlags): Promise<number> {
  // Everything the command line can get wrong is checked before connecting, so nothing is half-written.
  const { args, kwargs } = parseFunctionArgs(argv);
  checkTimeout(flags.timeout);
  if (flags.scheduleIn !== undefined && flags.scheduleAt !== undefined) {
    throw new UsageError("You can't specify both --schedule-in and --schedule-at");
  }
  const scheduleIn = flags.scheduleIn !== undefined ? scheduleInSeconds(flags.scheduleIn) : undefined;
  const scheduleAt = flags.scheduleAt !== undefined ? scheduleAtDate(flags.scheduleAt) : undefined;
  const call = fullCallString(func, args, kwargs);

  const options: EnqueueCallOptions = { func, args, kwargs, description: flags.description || call };
  if (flags.timeout !== undefined) options.timeout = flags.timeout;
  if (flags.resultTtl !== undefined) options.resultTtl = flags.resultTtl;
  if (flags.ttl !== undefined) options.ttl = flags.ttl;
  if (flags.failureTtl !== undefined) options.failureTtl = flags.failureTtl;
  if (flags.jobId !== undefined) options.jobId = flags.jobId;
  if (flags.atFront) options.atFront = true;
  if (flags.dependsOn.length > 0) options.dependsOn = flags.dependsOn;
  if (flags.retryMax > 0) options.retry = { max: flags.retryMax, interval: flags.retryInterval };

  const cli = await openCli(flags);
  try {
    const queue = new cli.queueClass(flags.queue, cli.queueOptions());
    // Build the job once up front: an invalid function path or job id fails here, before any write.
    queue.createJob(options);
    let jobId: string;
    if (scheduleIn !== undefined || scheduleAt !== undefined) {
      // A scheduled job's dependencies are not checked by the scheduler; a missing one is still a typo.
      if (flags.dependsOn.length > 0) {
        const exists = await Promise.all(flags.dependsOn.map((id) => cli.connection.exists(cli.keys.job(id))));
        const missing = flags.dependsOn.filter((_, i) => exists[i] === 0);
        if (missing.length > 0) {
          throw new NoSuchJobError(`Cannot enqueue on ${queue.name}: dependency ${missing.join(', ')} does not exist (no job hash); nothing was written`);
        }
      }
      const job = scheduleAt !== undefined ? await queue.enqueueAt(scheduleAt, options) : await queue.enqueueIn(scheduleIn!, options);
      jobId = job.id;
    } else {
      jobId = (await queue.enqueueCall(options)).id;
    }
    if (!flags.quiet) out(`Enqueued ${style().blue(call)} with job-id '${jobId}'.`);
    return 0;
  } finally {
    cli.close();
  }
}
