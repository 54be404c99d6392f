import type { Job } from '../lib/Job.js';
import type { Worker } from '../lib/Worker.js';
import { RqError } from '../lib/errors/RqError.js';
import { claimedQueueOf } from '../lib/claims.js';
import { runScript } from '../lib/redis/scripts.js';
import { epochSeconds, utcformat } from '../lib/time.js';

const PLUGIN_NAME = 'PerformPlugin';

/** rq's maintain_heartbeats while a job runs: worker key, job's last_heartbeat, StartedJobRegistry score. */
export async function busyHeartbeat(w: Worker, job: Job, startedAt = w.jobStartedAt): Promise<void> {
  const now = new Date();
  const working = startedAt ? (now.getTime() - startedAt.getTime()) / 1000 : 0;
  const ttl = w.heartbeatTtl(job, working);
  await runScript(
    w.connection,
    'rqBusyHeartbeat',
    { worker: w.key, job: job.key, wip: w.keys.started(claimedQueueOf(job, w.queueNames[0]!)) },
    { workerTtl: ttl, nowTs: utcformat(now), wipScore: epochSeconds(now) + ttl, id: job.id, workingTime: working.toFixed(6) },
  );
  w.lastHeartbeat = now;
  await w.hooks.heartbeat.promise(w);
}

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
