/**
 * A BullMQ worker in its own process (started by bench/bullmq.ts with an IPC channel), so that its
 * RSS is its own, as an rq-ts worker started from the CLI. Reports over IPC:
 *   { type: 'drained', times }       once the first `total` jobs completed ([processedOn, finishedOn] each)
 *   { type: 'completed', id, processedOn }   for every later job (the latency phase)
 *   { type: 'failed', error }        when a job fails
 * and closes the worker on { type: 'stop' } or SIGTERM.
 */
import { Worker, type Job } from 'bullmq';

export type BullmqMode = 'inprocess' | 'sandbox-process' | 'sandbox-threads';

export interface BullmqWorkerConfig {
  port: number;
  queue: string;
  mode: BullmqMode;
  concurrency: number;
  /** Jobs pre-enqueued for the throughput phase. */
  total: number;
  /** Absolute path of the sandboxed processor (.mjs). */
  processorFile: string;
  /** In-process mode: each job awaits this many ms (as bench.jobs.io does for rq-ts). */
  waitMs?: number;
}

export type BullmqWorkerMessage =
  | { type: 'ready' }
  | { type: 'drained'; times: [number, number][] }
  | { type: 'completed'; id: string; processedOn: number }
  | { type: 'failed'; error: string };

const config = JSON.parse(process.argv[2] ?? '{}') as BullmqWorkerConfig;
const send = (message: BullmqWorkerMessage): void => void process.send?.(message);

const waitMs = config.waitMs;
const inProcess = waitMs === undefined ? async (_job: Job): Promise<void> => {} : async (_job: Job): Promise<void> => void (await new Promise((r) => setTimeout(r, waitMs)));
const processor = config.mode === 'inprocess' ? inProcess : config.processorFile;
const worker = new Worker(config.queue, processor, {
  connection: { host: '127.0.0.1', port: config.port, maxRetriesPerRequest: null },
  concurrency: config.concurrency,
  useWorkerThreads: config.mode === 'sandbox-threads',
});

let completed = 0;
const times: [number, number][] = [];
worker.on('completed', (job: Job) => {
  completed++;
  if (completed <= config.total) {
    times.push([job.processedOn ?? Number.NaN, job.finishedOn ?? Number.NaN]);
    if (completed === config.total) send({ type: 'drained', times });
  } else {
    send({ type: 'completed', id: String(job.id), processedOn: job.processedOn ?? Number.NaN });
  }
});
worker.on('failed', (job: Job | undefined, err: Error) => send({ type: 'failed', error: `job ${String(job?.id)}: ${err.stack ?? err.message}` }));
worker.on('error', (err: Error) => send({ type: 'failed', error: `worker error: ${err.stack ?? err.message}` }));

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  const forced = setTimeout(() => process.exit(1), 10_000);
  await worker.close();
  clearTimeout(forced);
  process.exit(0);
}
process.on('message', (m: { type?: string }) => {
  if (m?.type === 'stop') void close();
});
process.on('SIGTERM', () => void close());
process.on('disconnect', () => void close());

await worker.waitUntilReady();
send({ type: 'ready' });
