import type { Worker } from '../lib/Worker.js';
import { RqError } from '../lib/errors/RqError.js';
import { busyHeartbeat } from '../lib/heartbeat.js';

const PLUGIN_NAME = 'PerformPlugin';

/**
 * The perform stage: runs the job on the horse handed out by the fork stage (which enforces the
 * death penalty), sending a heartbeat every `jobMonitoringInterval` seconds meanwhile. A tap before
 * this one that returns a finished or failed outcome pre-empts it.
 */
export class PerformPlugin {
  apply(worker: Worker): void {
    worker.hooks.perform.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (outcome, job, w) => {
      if (outcome.status !== 'pending') return outcome;
      const horse = w.horse;
      if (!horse) throw new RqError(`No horse to run job ${job.id}: no tap of the "fork" hook returned one`);
      const timer = setInterval(() => {
        busyHeartbeat(w, job).catch((err: unknown) => w.logger.warning(`Heartbeat failed: ${err instanceof Error ? err.message : String(err)}`));
      }, w.jobMonitoringInterval * 1000);
      try {
        return await horse.perform(job, w);
      } finally {
        clearInterval(timer);
      }
    });
  }
}
