import type { Job } from './Job.js';
import { claimedQueueOf } from './Lookahead.js';
import { runScript } from './redis/scripts.js';
import { utcformat } from './time.js';
import type { Worker } from './Worker.js';
import { untilAnswered } from './RedisOutage.js';
import { executionKeys, executionOf } from './protocol.js';

/** The heartbeat each worker has in flight: one that waits out an outage is not joined by more. */
const beating = new WeakMap<Worker, Promise<void>>();

/**
 * rq's maintain_heartbeats while a job runs: worker key, job's last_heartbeat, StartedJobRegistry
 * score, and under protocol 2 its execution (rq 2.x's Execution.heartbeat). Sent by the perform stage, and by a worker process for the job its horse runs.
 */
export function busyHeartbeat(w: Worker, job: Job, startedAt = w.jobStartedAt): Promise<void> {
  const inFlight = beating.get(w);
  if (inFlight) return inFlight;
  const beat = beatOnce(w, job, startedAt).finally(() => beating.delete(w));
  beating.set(w, beat);
  return beat;
}

async function beatOnce(w: Worker, job: Job, startedAt: Date | null): Promise<void> {
  const now = new Date();
  const working = startedAt ? (now.getTime() - startedAt.getTime()) / 1000 : 0;
  const ttl = w.heartbeatTtl(job, working);
  const execId = executionOf(job);
  // Waits out an outage (the job's StartedJobRegistry score must move on once Redis answers again);
  // sending it twice only writes the same values twice.
  await untilAnswered(w, `send the heartbeat of job ${job.id}`, () =>
    runScript(
      w.connection,
      'rqBusyHeartbeat',
      {
        worker: w.key,
        job: job.key,
        wip: w.keys.started(claimedQueueOf(job, w.queueNames[0]!)),
        ...executionKeys(w.keys, job.id, execId),
      },
      { workerTtl: ttl, nowTs: utcformat(now), id: job.id, workingTime: working.toFixed(6), execId },
    ),
  );
  w.lastHeartbeat = now;
  await w.hooks.heartbeat.promise(w);
}
