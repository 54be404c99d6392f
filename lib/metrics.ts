/**
 * Prometheus metrics under rq-exporter's names, so its Grafana dashboards work unchanged, plus
 * the run time of recently finished jobs. Each scrape reads Redis once into a fresh prom-client
 * registry: workers and queues that are gone disappear from the output instead of lingering.
 */
import { MissingDependencyError } from './errors/MissingDependencyError.js';
import { Job } from './Job.js';
import type { Queue } from './Queue.js';
import { FinishedJobRegistry } from './registries/FinishedJobRegistry.js';
import { queueViews, workerViews, type MonitorOptions } from './monitor.js';
import type { Worker } from './Worker.js';

/** How many of each queue's newest finished jobs feed `rq_job_duration_seconds`. */
export const DURATION_SAMPLE = 200;

export const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export interface MetricsSources extends MonitorOptions {
  queues: () => Promise<Queue[]>;
  workerClass: typeof Worker;
}

type PromClient = typeof import('prom-client');
let promClient: Promise<PromClient> | undefined;

/**
 * prom-client, an optional peer dependency: with its dependencies it is a third of an install of
 * rq-ts, and only /metrics needs it. Rejects with the command that installs it.
 */
export function loadPromClient(): Promise<PromClient> {
  promClient ??= import('prom-client').catch((cause: unknown) => {
    promClient = undefined;
    throw new MissingDependencyError('Prometheus metrics need prom-client, which is not installed: npm install prom-client', { cause });
  });
  return promClient;
}

/** The text exposition (`text/plain; version=0.0.4`) of one scrape. */
export async function renderMetrics(sources: MetricsSources): Promise<{ contentType: string; body: string }> {
  const { Counter, Gauge, Histogram, Registry } = await loadPromClient();
  const registry = new Registry();
  const workers = new Gauge({ name: 'rq_workers', help: 'RQ workers', labelNames: ['name', 'queues', 'state'], registers: [registry] });
  const success = new Counter({ name: 'rq_workers_success_total', help: 'RQ workers success count', labelNames: ['name', 'queues'], registers: [registry] });
  const failed = new Counter({ name: 'rq_workers_failed_total', help: 'RQ workers fail count', labelNames: ['name', 'queues'], registers: [registry] });
  const working = new Counter({ name: 'rq_workers_working_time_total', help: 'RQ workers spent seconds', labelNames: ['name', 'queues'], registers: [registry] });
  const jobs = new Gauge({ name: 'rq_jobs', help: 'RQ jobs by state', labelNames: ['queue', 'status'], registers: [registry] });
  const durations = new Histogram({
    name: 'rq_job_duration_seconds',
    help: `Run time (ended_at - started_at) of the ${DURATION_SAMPLE} newest finished jobs of each queue`,
    labelNames: ['queue'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });

  for (const w of await workerViews(sources.workerClass, sources)) {
    const queues = w.queues.join(',');
    workers.set({ name: w.name, queues, state: w.state ?? 'unknown' }, 1);
    success.inc({ name: w.name, queues }, w.successfulJobCount);
    failed.inc({ name: w.name, queues }, w.failedJobCount);
    working.inc({ name: w.name, queues }, w.totalWorkingTime);
  }
  const queues = await sources.queues();
  for (const q of await queueViews(queues, sources.registryOptions)) {
    for (const [status, n] of Object.entries(q.counts)) jobs.set({ queue: q.name, status }, n);
  }
  const jobClass = sources.jobClass ?? Job;
  for (const q of queues) {
    const ids = await new FinishedJobRegistry(q.name, sources.registryOptions).getJobIds(-DURATION_SAMPLE, -1, false);
    const serializer = sources.registryOptions.serializer;
    const finished = await jobClass.fetchMany(ids, { connection: sources.connection, ...(serializer ? { serializer } : {}) });
    // Touch the label set so an idle queue still shows an empty histogram.
    durations.zero({ queue: q.name });
    for (const job of finished) {
      if (job?.startedAt && job.endedAt) durations.observe({ queue: q.name }, Math.max(0, (job.endedAt.getTime() - job.startedAt.getTime()) / 1000));
    }
  }
  return { contentType: registry.contentType, body: await registry.metrics() };
}
