import type { Worker } from '../lib/Worker.js';
import { FailedJobRegistry } from '../lib/registries/FailedJobRegistry.js';
import { FinishedJobRegistry } from '../lib/registries/FinishedJobRegistry.js';
import { StartedJobRegistry } from '../lib/registries/StartedJobRegistry.js';
import { cleanWorkerRegistry } from '../lib/registries/workerRegistry.js';
import { runScript } from '../lib/redis/scripts.js';
import { ORPHANED_FIELD } from '../lib/Lookahead.js';
import { redisEpochSeconds } from '../lib/time.js';

const PLUGIN_NAME = 'MaintenancePlugin';

/** How long an id may sit in an intermediate list, unclaimed, before a sweep puts it back. */
export const INTERMEDIATE_GRACE_SECONDS = 60;

/**
 * Registry maintenance (rq-wire-protocol.md §4.12) when the worker starts and every
 * `maintenanceInterval` seconds, per queue only under rq's lock `rq:clean_registries:<q>`
 * (SET NX EX 899, shared with Python workers): expired finished/failed entries dropped, expired
 * started entries (their worker died) failed or retried, dead workers out of the worker sets, and
 * ids stranded in an intermediate list (worker killed between take and claim) back in their queue.
 */
export class MaintenancePlugin {
  apply(worker: Worker): void {
    const run = async (w: Worker): Promise<void> => {
      try {
        await cleanRegistries(w);
      } catch (err) {
        w.logger.error(`Registry maintenance failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    // At the start (stage 100: after the worker's other register taps, as rq cleans after
    // "Listening on"), then on a timer: wherever the jobs run, they need not wait for it.
    let timer: NodeJS.Timeout | null = null;
    worker.hooks.register.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (w) => {
      await run(w);
      timer = setInterval(() => void run(w), w.maintenanceInterval * 1000);
      timer.unref();
    });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      if (timer) clearInterval(timer);
    });
  }
}

export async function cleanRegistries(w: Worker): Promise<void> {
  const { connection, keys } = w;
  for (const queue of w.queues) {
    const locked = await connection.set(keys.cleanRegistriesLock(queue.name), '1', 'EX', 899, 'NX');
    if (locked !== 'OK') continue;
    w.logger.info(`Cleaning registries for queue: ${queue.name}`);
    const options = { connection, jobClass: w.jobClass, serializer: w.serializer };
    // Redis's clock, not this process's: one that runs ahead must not expire other workers' entries.
    const now = await redisEpochSeconds(connection);
    await new FinishedJobRegistry(queue.name, options).cleanup(now);
    const abandoned = await new StartedJobRegistry(queue.name, options).cleanupExpired(now);
    for (const [id, outcome] of abandoned) {
      if (outcome !== 'gone') w.logger.warning(`Job ${id} of a dead worker: ${outcome === 'failed' ? 'moved to FailedJobRegistry' : outcome}`);
    }
    await new FailedJobRegistry(queue.name, options).cleanup(now);
    await cleanWorkerRegistry(connection, queue.name);
    await recoverIntermediate(w, queue.name);
  }
}

async function recoverIntermediate(w: Worker, queue: string): Promise<void> {
  const { connection, keys } = w;
  const ids = await connection.lrange(keys.intermediate(queue), 0, -1);
  for (const id of new Set(ids)) {
    const outcome = await runScript(
      connection,
      'rqRecoverIntermediate',
      { intermediate: keys.intermediate(queue), queue: keys.queue(queue), wip: keys.started(queue), seen: keys.intermediateSeen(queue, id), executions: keys.executions(id), job: keys.job(id) },
      { id, grace: INTERMEDIATE_GRACE_SECONDS, field: ORPHANED_FIELD },
    );
    if (outcome === 'requeued') w.logger.warning(`Job ${id} was stranded between dequeue and start; put back on ${queue}`);
  }
}
