import { Worker as Thread } from 'node:worker_threads';
import type { Worker } from '../Worker.js';
import { BUFFER_BYTES, ID_BYTES, ID_TOO_LONG, POLL_MS, SLOTS, TICK, slotViews, type WatchedWorker, type WatchdogData } from './loop-watchdog-shared.js';

/**
 * One long-lived thread per process that ends the process when a job run in-process (SimpleWorker)
 * is past its timeout and the event loop has been blocked for GRACE_MS (loop-watchdog-shared.ts):
 * the death penalty's timer cannot fire then, and nothing in-process interrupts a blocked loop
 * without a thread per call (node:vm's `timeout`, ~150 µs a job; docs/workers.md). Before the process
 * ends, the thread fails the job with JobTimeoutException (or retries it) and registers the worker's death.
 *
 * The event loop shows it is alive by ticking a shared counter every POLL_MS, so a job a death
 * penalty lets run past its timeout is not mistaken for a blocked loop. Arming a job costs a few
 * shared-memory writes: the thread is never woken per job, it looks every POLL_MS.
 */
export class LoopWatchdog {
  private static instance: LoopWatchdog | undefined;

  /** The process's watchdog, its thread started at the first call. */
  static shared(): LoopWatchdog {
    return (LoopWatchdog.instance ??= new LoopWatchdog());
  }

  private readonly views;
  private readonly thread: Thread;
  private readonly free: number[] = [];
  private readonly numbers = new WeakMap<Worker, number>();
  private workerCount = 0;
  private failed = false;

  private constructor() {
    const data: WatchdogData = { buffer: new SharedArrayBuffer(BUFFER_BYTES) };
    this.views = slotViews(data.buffer);
    const { ints } = this.views;
    setInterval(() => Atomics.add(ints, TICK, 1), POLL_MS).unref();
    for (let s = SLOTS - 1; s >= 0; s--) this.free.push(s);
    this.thread = new Thread(new URL('./loop-watchdog-thread.js', import.meta.url), { workerData: data });
    // The watchdog must never keep a worker process alive, nor take it down by failing itself.
    this.thread.unref();
    this.thread.on('error', (err) => {
      this.failed = true;
      process.stderr.write(`rq-ts: the blocked-loop watchdog stopped (${err.message}); jobs keep their timeouts, but a blocked event loop is no longer ended\n`);
    });
  }

  /**
   * Watches a job due to end by `deadline` (epoch ms). Returns the slot to pass to `disarm`, or -1
   * when the job cannot be watched (the watchdog failed, or SLOTS jobs of this process are already
   * watched: more SimpleWorkers in one process than that run their extra jobs unwatched).
   */
  arm(worker: Worker, jobId: string, timeoutSeconds: number, deadline: number): number {
    if (this.failed) return -1;
    const slot = this.free.pop();
    if (slot === undefined) return -1;
    const { ints, floats, ids } = this.views;
    const at = slot * 4;
    ints[at + 2] = this.numberOf(worker.root);
    const written = Buffer.byteLength(jobId) <= ID_BYTES ? ids.write(jobId, slot * ID_BYTES, ID_BYTES) : ID_TOO_LONG;
    ints[at + 3] = written;
    floats[slot * 2] = deadline;
    floats[slot * 2 + 1] = timeoutSeconds;
    // The generation changes before the slot reads as armed, so the thread can tell a slot it read
    // half-way through a re-arming (see the thread's check).
    Atomics.add(ints, at + 1, 1);
    Atomics.store(ints, at, 1);
    return slot;
  }

  disarm(slot: number): void {
    if (slot < 0) return;
    Atomics.store(this.views.ints, slot * 4, 0);
    this.free.push(slot);
  }

  /** Registers a worker with the thread the first time one of its jobs is watched. */
  private numberOf(worker: Worker): number {
    let n = this.numbers.get(worker);
    if (n === undefined) {
      n = this.workerCount++;
      this.numbers.set(worker, n);
      const watched: WatchedWorker = {
        n,
        redisOptions: cloneableOptions(worker.connection.options as Record<string, unknown>),
        prefix: worker.keys.prefix,
        key: worker.key,
        queueNames: [...worker.queueNames],
        horse: worker.role === 'horse',
      };
      this.thread.postMessage(watched);
    }
    return n;
  }
}

/** The connection's options that can cross to a thread (functions such as retryStrategy cannot). */
function cloneableOptions(options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (typeof v === 'function') continue;
    try {
      out[k] = structuredClone(v);
    } catch {
      // an option holding a class instance or a function deeper down: the thread goes without it
    }
  }
  return out;
}
