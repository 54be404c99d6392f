import type { Job } from '../lib/Job.js';
import type { Worker } from '../lib/Worker.js';
import { formatException } from '../lib/execute.js';
import type { ProcessHorse } from '../lib/horse/ProcessHorse.js';
import type { LoopReport } from '../lib/horse/protocol.js';
import { failedOutcome } from '../lib/horse/runJob.js';
import { RqError } from '../lib/errors/RqError.js';
import { sleep } from '../lib/suspension.js';
import { giveBack, recentlyTaken, type IntermediateJob } from '../lib/claims.js';
import { STOPPED_TEXT } from './CommandsPlugin.js';
import { busyHeartbeat } from './PerformPlugin.js';
import { startHorse } from './ProcessHorsePlugin.js';

const PLUGIN_NAME = 'HorseLoopPlugin';

/** The job counts the horse's scripts keep in the worker's hash. */
async function counted(w: Worker): Promise<{ successful: number; failed: number; workingTime: number }> {
  const [s, f, t] = await w.connection.hmget(w.key, 'successful_job_count', 'failed_job_count', 'total_working_time');
  return { successful: Number(s) || 0, failed: Number(f) || 0, workingTime: Number(t) || 0 };
}

/**
 * `Worker` when its horse takes its own jobs (HorseOptions.loop): the horse runs every stage of a job
 * as SimpleWorker does — one hand-over between processes per job fewer than sending it each job —
 * and this process supervises it. Its dequeue stage starts the horse's loop and returns when the
 * loop ends (burst done, maxJobs, warm shutdown); a horse that must be replaced (a job left running
 * past its timeout, horse.maxJobs, horse.maxMemoryMb) or that died is replaced and the loop goes on.
 * A horse that died mid-job (a crash, a kill, cold shutdown, the kill-horse and stop-job commands)
 * has its job recorded here as failed (or stopped), as rq's worker does for its horse.
 */
export class HorseLoopPlugin {
  apply(worker: Worker): void {
    let horse: ProcessHorse | null = null;

    // Started with the worker, so that a broken config fails at start.
    worker.hooks.startup.tapPromise(PLUGIN_NAME, async (w) => {
      horse = await startHorse(w);
    });
    worker.stopSignal.addEventListener('abort', () => horse?.stopLoop(), { once: true });

    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (w) => {
      let backoff = 1;
      while (!w.stopRequested) {
        const left = w.maxJobs === null ? null : w.maxJobs - w.jobsDone;
        if (left !== null && left <= 0) break;
        if (!horse) {
          try {
            horse = await startHorse(w);
            backoff = 1;
          } catch (err) {
            w.logger.error(`Could not start a new work horse: ${err instanceof Error ? err.message : String(err)}; retrying in ${backoff} s`);
            await sleep(backoff * 1000, w.stopSignal);
            backoff = Math.min(backoff * 2, 60);
            continue;
          }
        }
        const h = horse;
        const perHorse = w.horseOptions.maxJobs ?? null;
        const limit = left === null ? perHorse : perHorse === null ? left : Math.min(left, perHorse);
        w.horse = h;
        // A stop that came while the horse was starting: its loop ends before its first job.
        if (w.stopRequested) h.stopLoop();
        // Heartbeats for the horse's jobs also come from here: a job that blocks the horse's event loop stops its own.
        const beat = setInterval(() => {
          this.heartbeat(w).catch((err: unknown) => w.logger.warning(`Heartbeat failed: ${err instanceof Error ? err.message : String(err)}`));
        }, w.jobMonitoringInterval * 1000);
        const countedBefore = await counted(w).catch(() => null);
        const result = await h.loop(w.burst, limit).finally(() => clearInterval(beat));
        w.horse = null;
        horse = null;
        if ('died' in result) {
          await h.released(w.connection);
          // A dead horse reports nothing: what it recorded is read from the worker's hash (for maxJobs and the stats).
          const after = countedBefore && (await counted(w).catch(() => null));
          if (countedBefore && after) {
            const successful = after.successful - countedBefore.successful;
            const failed = after.failed - countedBefore.failed;
            this.count(w, { jobs: successful + failed, successful, failed, workingTime: after.workingTime - countedBefore.workingTime, replace: null });
          }
          // Read before the death is recorded: recording it is a script that takes a replay slot.
          const taken = await recentlyTaken(w).catch((err: unknown) => {
            w.logger.warning(`Could not look up the jobs taken ahead by the work horse that died (maintenance will give them back): ${err instanceof Error ? err.message : String(err)}`);
            return [];
          });
          await this.recordDeath(w, h, result.died, result.killReason);
          await this.giveBackTaken(w, taken);
          continue;
        }
        this.count(w, result.report);
        if (result.report.replace) {
          // As when Worker kills a horse at a timeout: what the timed-out job started ends too.
          h.endGroup();
          w.logger.info(`Replacing the work horse (pid ${h.pid}) ${result.report.replace}`);
          continue;
        }
        if (perHorse !== null && result.report.jobs >= perHorse && (left === null || left > perHorse)) {
          w.logger.info(`Replacing the work horse (pid ${h.pid}) after ${result.report.jobs} jobs`);
          continue;
        }
        if (w.maxJobs !== null && w.jobsDone >= w.maxJobs) w.logger.info(`Worker ${w.key}: finished executing ${w.jobsDone} jobs, quitting`);
        else if (w.burst && !w.stopRequested) w.logger.info('No more work, burst finished.');
        break;
      }
      return undefined;
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await horse?.retire();
      horse = null;
    });
  }

  /** The job the worker's hash names as current (its id, and the job if it still has a hash with an origin). */
  private async current(w: Worker): Promise<{ id: string | null; job: Job | null }> {
    const id = await w.connection.hget(w.key, 'current_job');
    if (!id) return { id: null, job: null };
    const job = await w.jobClass.fetch(id, { connection: w.connection, serializer: w.serializer }).catch(() => null);
    return { id, job: job?.origin ? job : null };
  }

  /** rq's busy heartbeat for the job the horse runs, as the worker's hash names it. */
  private async heartbeat(w: Worker): Promise<void> {
    const { job } = await this.current(w);
    if (job) await busyHeartbeat(w, job, job.startedAt);
  }

  /**
   * The jobs the dead horse had taken ahead go back to the head of their queues, in their order (the
   * last first). One it started since is no longer in its intermediate list, and stays as it is.
   */
  private async giveBackTaken(w: Worker, jobs: IntermediateJob[]): Promise<void> {
    for (const { queue, id } of [...jobs].reverse()) {
      try {
        await giveBack(w, queue, id);
      } catch (err) {
        w.logger.warning(`Could not give back job ${id}, taken ahead by the work horse that died (maintenance will): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private count(w: Worker, report: LoopReport): void {
    w.jobsDone += report.jobs;
    w.successfulJobCount += report.successful;
    w.failedJobCount += report.failed;
    w.totalWorkingTime += report.workingTime;
  }

  /**
   * The job the horse was running when it died, as the worker's hash names it, is failed here (the
   * cleanup stage, as for any job) — unless its outcome was recorded already (by the horse, or by
   * its watchdog before it ended the process).
   */
  private async recordDeath(w: Worker, h: ProcessHorse, died: string, killReason: string | null): Promise<void> {
    const keys = w.keys;
    let job: Job | null = null;
    let id: string | null = null;
    try {
      const found = await this.current(w);
      id = found.id;
      // Only a job still registered as started has no outcome yet.
      if (found.job && (await w.connection.zscore(keys.started(found.job.origin!), found.job.id)) !== null) job = found.job;
    } catch (err) {
      w.logger.error(`The work horse (pid ${h.pid}) died (${died}) and its job could not be looked up (maintenance will fail it): ${formatException(err)}`);
      return;
    }
    if (!job) {
      w.logger.warning(`The work horse (pid ${h.pid}) died ${id ? `after its job ${id} was recorded` : 'between jobs'}: ${died}`);
      return;
    }
    const stopped = killReason === STOPPED_TEXT;
    const outcome = stopped
      ? failedOutcome(Object.assign(new Error(STOPPED_TEXT), { name: 'StopRequested' }), { stopped: true })
      : failedOutcome(new RqError(died));
    if (stopped && outcome.status === 'failed') outcome.excString = STOPPED_TEXT;
    w.currentJob = job;
    w.currentJobId = job.id;
    w.jobStartedAt = job.startedAt ?? new Date();
    try {
      await w.hooks.cleanup.promise(job, outcome, w);
      w.jobsDone++;
    } finally {
      w.currentJob = null;
      w.currentJobId = null;
      w.jobStartedAt = null;
    }
  }
}
