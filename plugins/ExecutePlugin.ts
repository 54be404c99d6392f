import type { Worker } from '../lib/Worker.js';
import { runJob } from '../lib/horse/runJob.js';

const PLUGIN_NAME = 'ExecutePlugin';

/**
 * Inside a work horse (role `horse`): the perform stage resolves the job's dotted function path
 * and calls it. The time limit is enforced by the worker, which kills this process when it passes.
 */
export class ExecutePlugin {
  apply(worker: Worker): void {
    worker.hooks.perform.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (outcome, job, w) =>
      outcome.status === 'pending' ? runJob(job, w) : outcome,
    );
  }
}
