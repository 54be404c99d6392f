/**
 * Plain, JSON-ready views of queues, workers and jobs, read through Queue, Job, the registries and
 * Worker.all: what `rq jobs`, `rq job`, the dashboard and `/metrics` show. A job whose hash is
 * corrupt or written by another serializer is still described, with the reason in `error`.
 */
import type { Redis } from 'ioredis';
import { Job } from './Job.js';
import type { JobClass, Queue } from './Queue.js';
import { keysOf } from './redis/connection.js';
import type { RegistryOptions } from './registries/BaseRegistry.js';
import { countAll, pageOfJobIds, type RegistryCounts, type RegistryName } from './registries/byName.js';
import { ScheduledJobRegistry } from './registries/ScheduledJobRegistry.js';
import type { Worker } from './Worker.js';

/** Longest traceback or value text sent whole; a bigger one (a megabyte of exc_info) is cut, saying so. */
export const MAX_TEXT = 64 * 1024;

export interface QueueView {
  name: string;
  counts: RegistryCounts;
}

export interface WorkerView {
  name: string;
  hostname: string;
  pid: number;
  state: string | null;
  currentJobId: string | null;
  queues: string[];
  successfulJobCount: number;
  failedJobCount: number;
  /** Seconds. */
  totalWorkingTime: number;
  lastHeartbeat: string | null;
  birth: string | null;
  /** `node` for rq-ts workers, `python` for rq's (from the `python_version` they write). */
  runtime: 'node' | 'python';
  version: string;
}

export interface ResultView {
  id: string;
  type: 'successful' | 'failed' | 'stopped' | 'retried' | 'max_retries_exceeded' | 'unknown';
  createdAt: string;
  returnValue?: string;
  excInfo?: string;
}

export interface JobView {
  id: string;
  status: string | null;
  origin: string | null;
  description: string | null;
  /** `tasks.add(1, 2)`, or null when the data cannot be decoded (see `error`). */
  callString: string | null;
  createdAt: string | null;
  enqueuedAt: string | null;
  startedAt: string | null;
  endedAt: string | null;
  workerName: string | null;
  /** Why part of the job cannot be shown (corrupt data, another serializer). */
  error?: string;
}

export interface JobDetailView extends JobView {
  funcName: string | null;
  args: unknown[] | null;
  kwargs: Record<string, unknown> | null;
  meta: Record<string, unknown>;
  timeout: number | null;
  resultTtl: number | null;
  failureTtl: number | null;
  ttl: number | null;
  retriesLeft: number | null;
  lastHeartbeat: string | null;
  scheduledFor: string | null;
  dependencyIds: string[];
  dependentIds: string[];
  /** The latest successful run's return value, as JSON text. */
  result: string | null;
  excInfo: string | null;
  /** The results stream, newest first. */
  results: ResultView[];
}

export interface MonitorOptions {
  connection: Redis;
  jobClass?: JobClass;
  registryOptions: RegistryOptions;
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Cuts text past MAX_TEXT, saying how much was left out. */
export function clip(text: string): string {
  return text.length <= MAX_TEXT ? text : `${text.slice(0, MAX_TEXT)}\n… (${text.length - MAX_TEXT} more characters not shown)`;
}

function jsonText(value: unknown): string {
  return clip(JSON.stringify(value, null, 2) ?? 'null');
}

export async function queueViews(queues: readonly Queue[], registryOptions: RegistryOptions): Promise<QueueView[]> {
  const views: QueueView[] = [];
  for (const q of queues) views.push({ name: q.name, counts: await countAll(q, registryOptions) });
  return views;
}

export function workerView(w: Worker): WorkerView {
  return {
    name: w.name,
    hostname: w.hostname,
    pid: w.pid,
    state: w.state,
    currentJobId: w.currentJobId,
    queues: w.queueNames,
    successfulJobCount: w.successfulJobCount,
    failedJobCount: w.failedJobCount,
    totalWorkingTime: w.totalWorkingTime,
    lastHeartbeat: iso(w.lastHeartbeat),
    birth: iso(w.birthDate),
    runtime: w.pythonVersion.startsWith('node ') ? 'node' : 'python',
    version: w.version,
  };
}

export async function workerViews(workerClass: typeof Worker, options: MonitorOptions): Promise<WorkerView[]> {
  const extra = { ...(options.jobClass ? { jobClass: options.jobClass } : {}), ...(options.registryOptions.serializer ? { serializer: options.registryOptions.serializer } : {}) };
  const workers = await workerClass.all({ connection: options.connection, ...extra });
  return workers.map(workerView);
}

export function jobView(job: Job): JobView {
  const view: JobView = {
    id: job.id,
    status: job.status,
    origin: job.origin,
    description: job.description,
    callString: null,
    createdAt: iso(job.createdAt),
    enqueuedAt: iso(job.enqueuedAt),
    startedAt: iso(job.startedAt),
    endedAt: iso(job.endedAt),
    workerName: job.workerName,
  };
  try {
    view.callString = clip(job.callString);
  } catch (err) {
    view.error = message(err);
  }
  return view;
}

/** A page of one queue's jobs in `registry`; ids whose hash is gone are listed with status null and an error. */
export async function jobPage(
  queue: Queue,
  registry: RegistryName,
  offset: number,
  limit: number,
  options: MonitorOptions,
): Promise<{ total: number; offset: number; limit: number; jobs: JobView[] }> {
  const { total, ids } = await pageOfJobIds(queue, registry, offset, limit, options.registryOptions);
  const jobClass = options.jobClass ?? Job;
  const jobs = await jobClass.fetchMany(ids, { connection: options.connection, ...(options.registryOptions.serializer ? { serializer: options.registryOptions.serializer } : {}) });
  const views = ids.map((id, i): JobView => {
    const job = jobs[i];
    if (job) return jobView(job);
    return { id, status: null, origin: queue.name, description: null, callString: null, createdAt: null, enqueuedAt: null, startedAt: null, endedAt: null, workerName: null, error: `${keysOf(options.connection).job(id)} is missing or has no data field` };
  });
  return { total, offset, limit, jobs: views };
}

const RESULT_TYPES: Record<number, ResultView['type']> = { 1: 'successful', 2: 'failed', 3: 'stopped', 4: 'retried', 5: 'max_retries_exceeded' };

/** Everything about one job. Throws NoSuchJobError (with rq's message) for an unknown id or a hash that is not a job. */
export async function jobDetail(id: string, options: MonitorOptions): Promise<JobDetailView> {
  const jobClass = options.jobClass ?? Job;
  const job = await jobClass.fetch(id, { connection: options.connection, ...(options.registryOptions.serializer ? { serializer: options.registryOptions.serializer } : {}) });
  const base = jobView(job);
  const errors = base.error ? [base.error] : [];
  let funcName: string | null = null;
  let args: unknown[] | null = null;
  let kwargs: Record<string, unknown> | null = null;
  try {
    funcName = job.funcName;
    args = job.args;
    kwargs = job.kwargs;
  } catch {
    // Already reported by jobView.
  }
  let results: ResultView[] = [];
  try {
    results = (await job.results()).map((r) => {
      const view: ResultView = { id: r.id, type: RESULT_TYPES[r.type] ?? 'unknown', createdAt: r.createdAt.toISOString() };
      if (r.isSuccessful) view.returnValue = jsonText(r.returnValue);
      if (r.excString !== null) view.excInfo = clip(r.excString);
      return view;
    });
  } catch (err) {
    errors.push(`results stream cannot be read: ${message(err)}`);
  }
  let result: string | null = null;
  try {
    const rv = await job.returnValue();
    if (job.status === 'finished' || rv !== null) result = jsonText(rv);
  } catch (err) {
    errors.push(`result cannot be decoded: ${message(err)}`);
  }
  const keys = keysOf(options.connection);
  const dependentIds = (await options.connection.smembers(keys.dependents(job.id))).sort();
  const scheduled = job.origin ? await new ScheduledJobRegistry(job.origin, options.registryOptions).getScheduledTime(job.id) : null;
  const detail: JobDetailView = {
    ...base,
    funcName,
    args,
    kwargs,
    meta: job.meta,
    timeout: job.timeout,
    resultTtl: job.resultTtl,
    failureTtl: job.failureTtl,
    ttl: job.ttl,
    retriesLeft: job.retriesLeft,
    lastHeartbeat: iso(job.lastHeartbeat),
    scheduledFor: iso(scheduled),
    dependencyIds: job.dependencyIds,
    dependentIds,
    result,
    excInfo: job.excInfo === null ? null : clip(job.excInfo),
    results,
  };
  delete detail.error;
  if (errors.length > 0) detail.error = errors.join('; ');
  return detail;
}
