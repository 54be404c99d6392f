import type { Redis } from 'ioredis';
import type { Queue } from '../lib/Queue.js';
import type { Worker } from '../lib/Worker.js';
import { duplicateConnection } from '../lib/redis/connection.js';
import { sleep, waitWhileSuspended } from '../lib/suspension.js';
import { utcformat } from '../lib/time.js';

const PLUGIN_NAME = 'DequeuePlugin';

/**
 * Waits until a queue may have a job, without taking it: `BLMOVE q q RIGHT RIGHT` pops the tail and
 * pushes it straight back, so it blocks while the list is empty and never removes anything. One
 * connection per queue (a blocked connection serves one key); a wake-up that another worker wins
 * costs one script call.
 */
class QueueWaiter {
  private readonly connections = new Map<string, Redis>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private closed = false;

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
    // A stop that came while the worker was not waiting must not start a new wait.
    if (this.closed) return;
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
    this.closed = true;
    for (const c of this.connections.values()) c.disconnect();
    this.connections.clear();
  }
}

/**
 * The dequeue stage: the next job from the queues in priority order, registered as started in the
 * same Lua call that takes it (rqTake; rqClaim when the head was not the id peeked at the last claim).
 * A taken id waits in its queue's intermediate list until it is registered, so at no instant is a job
 * only in this process's memory and a SIGKILL loses nothing. A job claimed ahead by the previous
 * job's cleanup script is returned without a round trip; the engine gives back what is taken ahead. Empty queues: a blocking wait (rq's BLPOP
 * timeout, worker_ttl - 15 s) with an idle heartbeat after each; burst mode stops. Suspension
 * (`rq suspend`) is checked by the same script.
 */
export class DequeuePlugin {
  apply(worker: Worker): void {
    const waiter = new QueueWaiter(worker);
    const claims = worker.engine.lookahead;
    worker.stopSignal.addEventListener('abort', () => waiter.close(), { once: true });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => waiter.close());

    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (w, queues) => {
      let backoff = 1;
      while (!w.stopRequested) {
        try {
          const taken = await claims.take(queues);
          backoff = 1;
          switch (taken.kind) {
            case 'job':
              return taken.job;
            case 'skipped':
              w.logger.warning(`Job ${taken.id} was taken from ${taken.queue.name} but ${taken.reason}; skipped`);
              continue;
            case 'suspended':
              if (!(await waitWhileSuspended(w))) return undefined;
              continue;
            case 'empty':
              if (w.burst) {
                // A horse's loop ends here; its worker says so.
                if (w.role === 'worker') w.logger.info('No more work, burst finished.');
                return undefined;
              }
              await this.idleHeartbeat(w);
              await waiter.wait(queues, w.dequeueTimeout);
          }
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
