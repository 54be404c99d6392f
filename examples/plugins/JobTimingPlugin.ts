import type { RqPlugin, Worker } from '../../lib/index.js';

const PLUGIN_NAME = 'JobTimingPlugin';

/**
 * Example plugin (docs/plugins.md): logs how long each job took, measured where the job runs
 * from the prepare stage to the cleanup stage, and counts outcomes.
 */
export class JobTimingPlugin implements RqPlugin {
  readonly counts = { finished: 0, failed: 0 };

  apply(worker: Worker): void {
    // The job stages fire where the job engine runs: SimpleWorker's process, or the horse of a Worker.
    if (!worker.runsJobs) return;
    const started = new Map<string, bigint>();
    worker.hooks.prepare.tapPromise(PLUGIN_NAME, async (job) => {
      started.set(job.id, process.hrtime.bigint());
      return job;
    });
    worker.hooks.cleanup.tapPromise(PLUGIN_NAME, async (job, outcome, w) => {
      const t0 = started.get(job.id);
      started.delete(job.id);
      if (outcome.status === 'finished' || outcome.status === 'failed') this.counts[outcome.status]++;
      if (t0 !== undefined) w.logger.info(`${job.id} ${outcome.status} in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
    });
  }
}
