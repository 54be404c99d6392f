import type { Worker } from '../lib/Worker.js';
import { sleep } from './DequeuePlugin.js';

const PLUGIN_NAME = 'SuspensionPlugin';

/**
 * `rq suspend` (the key `rq:suspended`): before each dequeue, a suspended worker sets its state
 * `suspended` and checks again every second; in burst mode it stops instead.
 */
export class SuspensionPlugin {
  apply(worker: Worker): void {
    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: -20 }, async (w) => {
      let announced = false;
      while (!w.stopRequested && (await w.connection.exists(w.keys.suspended))) {
        if (w.burst) {
          w.requestStop('Suspended in burst mode, exiting');
          return undefined;
        }
        if (!announced) {
          w.logger.warning('Worker suspended, run "rq resume" to resume');
          await w.connection.hset(w.key, 'state', 'suspended');
          w.state = 'suspended';
          announced = true;
        }
        await w.connection.expire(w.key, w.workerTtl + 60);
        await sleep(1000, w.stopSignal);
      }
      if (announced) {
        w.logger.info('Worker resumed');
        await w.connection.hset(w.key, 'state', 'idle');
        w.state = 'idle';
      }
      return undefined;
    });
  }
}
