import type { Redis } from 'ioredis';
import type { Job } from '../lib/Job.js';
import type { Queue } from '../lib/Queue.js';
import type { Worker } from '../lib/Worker.js';
import { duplicateConnection } from '../lib/redis/connection.js';
import { runScript, runScriptBuffer } from '../lib/redis/scripts.js';
import { epochSeconds, utcformat } from '../lib/time.js';

const PLUGIN_NAME = 'DequeuePlugin';

/** Sleeps `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits until a queue may have a job, without taking it: `BLMOVE q q RIGHT RIGHT` pops the tail and
 * pushes it straight back, so it blocks while the list is empty and never removes anything. One
 * connection per queue (a blocked connection serves one key); a wake-up that another worker wins
 * costs one script call.
 */
class QueueWaiter {
  private readonly connections = new Map<string, Redis>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly worker: Worker) {}

  private connectionFor(queue: string): Redis {
    let c = this.connections.get(queue);
    if (!c) {
      c = duplicateConnection(this.worker.connection, { maxRetriesPerRequest: null });
      // Errors surface as rejected waits; without a listener ioredis would print each reconnect failure.
      c.on('error', () => {});
      this.connections.set(queue, c);
    }
    return c;
  }

  /** Resolves when some queue has an element, the wait times out, or the waiter is closed. */
  async wait(queues: readonly Queue[], timeoutSeconds: number): Promise<void> {
    for (const q of queues) {
      if (this.pending.has(q.name)) continue;
      const p = this.connectionFor(q.name)
        .blmove(q.key, q.key, 'RIGHT', 'RIGHT', timeoutSeconds)
        .catch(() => null)
        .finally(() => this.pending.delete(q.name));
      this.pending.set(q.name, p);
    }
    await Promise.race(this.pending.values());
  }

  close(): void {
    for (const c of this.connections.values()) c.disconnect();
    this.connections.clear();
  }
}

/**
 * The dequeue stage: takes the next job id from the queues in priority order into the queue's
 * intermediate list (rqPop), then registers it as started and loads it (rqClaim). At no instant is
 * a job only in this process's memory, so a SIGKILL loses nothing. Empty queues: a blocking wait
 * (rq's BLPOP timeout, worker_ttl - 15 s) with an idle heartbeat after each; burst mode stops.
 */
export class DequeuePlugin {
  constructor(private readonly mode: 'process' | 'inline' = 'process') {}

  apply(worker: Worker): void {
    const waiter = new QueueWaiter(worker);
    worker.stopSignal.addEventListener('abort', () => waiter.close(), { once: true });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => waiter.close());

    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (w, queues) => {
      let backoff = 1;
      while (!w.stopRequested) {
        try {
          const job = await this.takeAndClaim(w, queues);
          backoff = 1;
          if (job) return job;
          if (job === null) continue;
          if (w.burst) {
            w.logger.info('No more work, burst finished.');
            return undefined;
          }
          await this.idleHeartbeat(w);
          await waiter.wait(queues, w.dequeueTimeout);
        } catch (err) {
          if (w.stopRequested) break;
          w.logger.error(`Could not dequeue: ${err instanceof Error ? err.message : String(err)}; retrying in ${backoff} s`);
          await sleep(backoff * 1000, w.stopSignal);
          backoff = Math.min(backoff * 2, 60);
        }
      }
      return undefined;
    });
  }

  /** A claimed job; null when the id taken had no job hash (skip it); undefined when all queues are empty. */
  private async takeAndClaim(w: Worker, queues: readonly Queue[]): Promise<Job | null | undefined> {
    const keys = w.keys;
    const popKeys = [...queues.map((q) => q.key), ...queues.map((q) => keys.intermediate(q.name))];
    const popped = (await runScript(w.connection, 'rqPop', popKeys, [])) as [number, string] | null;
    if (!popped) return undefined;
    const queue = queues[popped[0] - 1]!;
    const id = popped[1];
    const now = new Date();
    const reply = (await runScriptBuffer(
      w.connection,
      'rqClaim',
      [keys.intermediate(queue.name), keys.job(id), keys.started(queue.name), w.key],
      [id, utcformat(now), epochSeconds(now), w.jobMonitoringInterval, w.name, this.mode],
    )) as number | [number, Buffer[]];
    if (typeof reply === 'number') {
      w.logger.warning(
        reply === 0
          ? `Job ${id} was taken from ${queue.name} but its hash is gone (deleted); skipped`
          : `${keys.job(id)} is not a job hash; skipped it`,
      );
      return null;
    }
    const [, flat] = reply;
    const hash: Record<string, Buffer> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!.toString()] = flat[i + 1]!;
    const options = { connection: w.connection, serializer: w.serializer };
    let job: Job;
    try {
      job = queue.jobClass.fromHash(id, hash, options);
    } catch {
      // A hash that is not a job (no `data`): it is registered now, so it fails like any bad job.
      job = new queue.jobClass(id, options);
    }
    if (!job.origin) job.origin = queue.name;
    w.state = 'busy';
    w.lastHeartbeat = now;
    return job;
  }

  private async idleHeartbeat(w: Worker): Promise<void> {
    const now = new Date();
    await w.connection
      .multi()
      .hset(w.key, 'state', 'idle', 'last_heartbeat', utcformat(now))
      .expire(w.key, w.workerTtl + 60)
      .exec();
    w.state = 'idle';
    w.lastHeartbeat = now;
    await w.hooks.heartbeat.promise(w);
  }
}
