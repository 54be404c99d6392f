import type { Worker } from '../lib/Worker.js';
import { QueueWaiter } from '../lib/QueueWaiter.js';
import { waitWhileSuspended } from '../lib/suspension.js';
import { FIRST_RETRY_MS, isTransient, nextDelay, noteRefused, pause, untilAnswered } from '../lib/RedisOutage.js';
import { utcformat } from '../lib/time.js';

const PLUGIN_NAME = 'DequeuePlugin';

/**
 * The dequeue stage: the next job from the queues in priority order, registered as started in the
 * same Lua call that takes it (rqTake; rqClaim when the head was not the id peeked at the last claim).
 * A taken id waits in its queue's intermediate list until it is registered, so at no instant is a job
 * only in this process's memory and a SIGKILL loses nothing. A job claimed ahead by the previous
 * job's cleanup script is returned without a round trip; the engine gives back what is taken ahead.
 * Empty queues: an idle heartbeat, then a wait for a write to any of them on one connection
 * (lib/QueueWaiter.ts) of at most rq's BLPOP timeout (worker_ttl - 15 s); burst mode stops.
 * Suspension (`rq suspend`) is checked by the same script.
 */
export class DequeuePlugin {
  apply(worker: Worker): void {
    const waiter = new QueueWaiter(worker);
    const claims = worker.engine.lookahead;
    worker.stopSignal.addEventListener('abort', () => waiter.close(), { once: true });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => waiter.close());

    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (w, queues) => {
      let backoff = 1;
      let delay = FIRST_RETRY_MS;
      while (!w.stopRequested) {
        try {
          const seen = waiter.mark();
          const taken = await claims.take(queues);
          backoff = 1;
          delay = FIRST_RETRY_MS;
          switch (taken.kind) {
            case 'job':
              return taken.job;
            case 'skipped':
              w.logger.warning(`Job ${taken.id} was taken from ${taken.queue.name} but ${taken.reason}; skipped`);
              continue;
            case 'suspended':
              if (!(await waitWhileSuspended(w))) return undefined;
              continue;
            case 'empty': {
              // Concurrent jobs still running: the worker is busy (their heartbeats keep it alive), and burst is not over yet.
              const running = w.engine.runningCount > 0;
              if (w.burst) {
                // A horse's loop ends here; its worker says so.
                if (w.role === 'worker' && !running) w.logger.info('No more work, burst finished.');
                return undefined;
              }
              if (!running) await this.idleHeartbeat(w);
              await waiter.wait(queues, w.dequeueTimeout, seen);
            }
          }
        } catch (err) {
          if (w.stopRequested) break;
          if (isTransient(err)) {
            // Redis cannot answer for now (the wait for work met it): one line per outage, and back
            // within 2 s of Redis answering.
            noteRefused(w, 'take a job', err);
            delay = (await pause(w, delay, w.stopSignal)) ? FIRST_RETRY_MS : nextDelay(delay);
            continue;
          }
          w.logger.error(`Could not dequeue: ${err instanceof Error ? err.message : String(err)}; retrying in ${backoff} s`);
          // A reconnect ends the wait: what failed may have been the connection's doing.
          backoff = (await pause(w, backoff * 1000, w.stopSignal)) ? 1 : Math.min(backoff * 2, 60);
        }
      }
      return undefined;
    });
  }

  private async idleHeartbeat(w: Worker): Promise<void> {
    const now = new Date();
    await untilAnswered(w, 'send the idle heartbeat', () =>
      w.connection
        .multi()
        .hset(w.key, 'state', 'idle', 'last_heartbeat', utcformat(now))
        .expire(w.key, w.workerTtl + 60)
        .exec(),
    );
    w.state = 'idle';
    w.lastHeartbeat = now;
    await w.hooks.heartbeat.promise(w);
  }
}
