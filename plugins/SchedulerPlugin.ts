import type { Worker } from '../lib/Worker.js';
import { Scheduler } from '../lib/scheduler.js';

const PLUGIN_NAME = 'SchedulerPlugin';

/**
 * `rq worker --with-scheduler`: the worker also runs rq's scheduler for its queues (moving due
 * jobs of `enqueueAt`/`enqueueIn` and retry intervals to their queues), under rq's per-queue lock.
 * In burst mode it runs once, before the first job, and releases the locks at the end.
 */
export class SchedulerPlugin {
  apply(worker: Worker): void {
    let scheduler: Scheduler | null = null;
    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => {
      scheduler = new Scheduler(w.connection, w.queueNames, (err) =>
        w.logger.error(`Scheduler: ${err instanceof Error ? err.message : String(err)}`),
      );
      const moved = await scheduler.runOnce();
      const locked = scheduler.lockedQueues;
      w.logger.info(locked.length > 0 ? `Scheduler for ${locked.join(', ')} started (${moved} due jobs enqueued)` : 'Scheduler: every queue is already scheduled by another worker');
      if (!w.burst) scheduler.start();
    });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await scheduler?.stop();
    });
  }
}
