import type { Worker } from '../lib/Worker.js';

const PLUGIN_NAME = 'PreparePlugin';

/**
 * The prepare stage's default: a job that another tap of the dequeue hook handed out is registered as
 * started by this worker (status, StartedJobRegistry, the worker busy with it), as the default
 * dequeue's script registers its own jobs when it takes them, so that its outcome is recorded and a
 * worker that dies while it runs has it failed by maintenance. Stage 100: after the user's taps,
 * which may replace the job.
 */
export class PreparePlugin {
  apply(worker: Worker): void {
    worker.hooks.prepare.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (job, w) => {
      if (!w.engine.lookahead.took(job)) await w.engine.lookahead.register(job);
      return job;
    });
  }
}
