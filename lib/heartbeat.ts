import type { Job } from './Job.js';
import { claimedQueueOf } from './Lookahead.js';
import { runScript } from './redis/scripts.js';
import { epochSeconds, utcformat } from './time.js';
import type { Worker } from './Worker.js';

/**
 * rq's maintain_heartbeats while a job runs: worker key, job's last_heartbeat, StartedJobRegistry
 * score. Sent by the perform stage, and by a worker process for the job its horse runs.
 */
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
