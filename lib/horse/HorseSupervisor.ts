import { giveBack, NO_NEXT_JOB, recentlyTaken, type IntermediateJob } from '../Lookahead.js';
import { finishManyParts, type GroupedSuccess, type HorseLog } from '../DirectLog.js';
import { enqueueDependents } from '../dependencies.js';
import { runScript } from '../redis/scripts.js';
import { STOPPED_TEXT } from '../commands.js';
import { RqError } from '../errors/RqError.js';
import { formatException } from '../execute.js';
import { executionOf, setExecution, startedMember } from '../protocol.js';
import { jobIdOfMember } from '../registries/BaseRegistry.js';
import { busyHeartbeat } from '../heartbeat.js';
import { DEFAULT_TIMEOUT, type Job } from '../Job.js';
import { sleep } from '../suspension.js';
import { isTransient, untilAnswered } from '../RedisOutage.js';
import type { Worker } from '../Worker.js';
import type { ProcessHorse } from './ProcessHorse.js';
import type { LoopReport } from './protocol.js';
import { failedOutcome } from './runJob.js';
import { SpareHorse } from './SpareHorse.js';
import { startHorse } from './spec.js';

/**
 * What a horse's death adds when nobody here killed it and its job had run past its timeout: the
 * horse's blocked-loop watchdog ends such a horse after recording the timeout, but when Redis does not
 * take that record in time (LoopWatchdog's bound; a loaded machine, paused writes) it ends the horse
 * anyway, and the reason would be lost.
 */
function pastTimeout(job: Job): string {
  const timeout = job.timeout ?? DEFAULT_TIMEOUT;
  if (timeout <= 0 || !job.startedAt || Date.now() - job.startedAt.getTime() < timeout * 1000) return '';
  return `; the job had run past its timeout (${timeout} s)`;
}

/** The job counts the horse's scripts keep in the worker's hash. */
async function counted(w: Worker): Promise<{ successful: number; failed: number; workingTime: number }> {
  const [s, f, t] = await w.connection.hmget(w.key, 'successful_job_count', 'failed_job_count', 'total_working_time');
  return { successful: Number(s) || 0, failed: Number(f) || 0, workingTime: Number(t) || 0 };
}

/**
 * What a `Worker` process does while its horse takes, runs and records its own jobs (the job engine
 * runs in the horse, HorseOptions.loop): it starts the horse, lets its loop run until it ends (burst
 * done, maxJobs, warm shutdown), replaces a horse that must be replaced (a job left running past its
 * timeout, horse.maxJobs, horse.maxMemoryMb) or that died, keeps the busy heartbeat going (a job can
 * block the horse's event loop), and records the job of a horse that died mid-job (a crash, a kill,
 * cold shutdown, the kill-horse and stop-job commands) as failed or stopped, as rq's worker does for
 * its horse. Fires horseStarted and horseDied.
 */
export class HorseSupervisor {
  private horse: ProcessHorse | null = null;
  private readonly spare: SpareHorse;

  constructor(private readonly worker: Worker) {
    this.spare = new SpareHorse(worker);
    worker.stopSignal.addEventListener('abort', () => this.horse?.stopLoop(), { once: true });
  }

  /** Starts the first horse (at the worker's start, so that a broken config fails before it registers). */
  async start(): Promise<void> {
    this.horse = await this.startHorse();
  }

  private async startHorse(): Promise<ProcessHorse> {
    const horse = await startHorse(this.worker);
    await this.worker.hooks.horseStarted.promise(this.worker, horse);
    return horse;
  }

  /** Runs horses until the worker stops. */
  async run(): Promise<void> {
    const w = this.worker;
    let backoff = 1;
    while (!w.stopRequested) {
      const left = w.maxJobs === null ? null : w.maxJobs - w.jobsDone;
      if (left !== null && left <= 0) break;
      if (!this.horse) {
        try {
          this.horse = (await this.takeSpare()) ?? (await this.startHorse());
          backoff = 1;
        } catch (err) {
          w.logger.error(`Could not start a new work horse: ${err instanceof Error ? err.message : String(err)}; retrying in ${backoff} s`);
          await sleep(backoff * 1000, w.stopSignal);
          backoff = Math.min(backoff * 2, 60);
          continue;
        }
      }
      const h = this.horse;
      const perHorse = w.horseOptions.maxJobs ?? null;
      const limit = left === null ? perHorse : perHorse === null ? left : Math.min(left, perHorse);
      w.horse = h;
      // A stop that came while the horse was starting: its loop ends before its first job.
      if (w.stopRequested) h.stopLoop();
      // This horse will reach its maxJobs before the worker stops: its successor starts now.
      else if (perHorse !== null && (left === null || left > perHorse)) this.spare.start();
      const beat = setInterval(() => {
        this.heartbeat().catch((err: unknown) => w.logger.warning(`Heartbeat failed: ${err instanceof Error ? err.message : String(err)}`));
      }, w.jobMonitoringInterval * 1000);
      const countedBefore = await counted(w).catch(() => null);
      // Group commit in the horse, with the log of the jobs it runs directly (lib/DirectLog.ts).
      const result = await h.loop(w.burst, limit, w.batch > 1 && w.concurrency === 1).finally(() => clearInterval(beat));
      w.horse = null;
      this.horse = null;
      if ('died' in result) {
        await this.buryHorse(h, result.died, result.killReason, countedBefore).finally(() => h.closeLog());
        continue;
      }
      h.closeLog();
      this.count(result.report);
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
  }

  /** The worker stops: its horse (if any) ends, and the spare. */
  async retire(): Promise<void> {
    await Promise.all([this.horse?.retire(), this.spare.retire()]);
    this.horse = null;
  }

  /** The spare, if there is one; horseStarted fires for it now, as it takes over. */
  private async takeSpare(): Promise<ProcessHorse | null> {
    const spare = await this.spare.take();
    if (spare) await this.worker.hooks.horseStarted.promise(this.worker, spare);
    return spare;
  }

  /**
   * A horse died: once Redis has let go of its connections, its counts are read, its job is
   * recorded, and the jobs it had taken ahead go back to their queues.
   */
  private async buryHorse(h: ProcessHorse, died: string, killReason: string | null, countedBefore: Awaited<ReturnType<typeof counted>> | null): Promise<void> {
    const w = this.worker;
    await h.released(w.connection);
    // A dead horse reports nothing: what it recorded is read from the worker's hash (for maxJobs and the stats).
    const after = countedBefore && (await counted(w).catch(() => null));
    if (countedBefore && after) {
      const successful = after.successful - countedBefore.successful;
      const failed = after.failed - countedBefore.failed;
      this.count({ jobs: successful + failed, successful, failed, workingTime: after.workingTime - countedBefore.workingTime, replace: null });
    }
    // Read before the death is recorded: recording it is a script that takes a replay slot.
    const taken = await recentlyTaken(w).catch((err: unknown) => {
      w.logger.warning(`Could not look up the jobs taken ahead by the work horse that died (maintenance will give them back): ${err instanceof Error ? err.message : String(err)}`);
      return [];
    });
    await w.hooks.horseDied.promise(w, h, died).catch((err: unknown) => w.logger.error(formatException(err)));
    await this.recordDeath(h, died, killReason);
    const log = h.readLog();
    await this.recordDirect(h, log, died, killReason);
    // What its log says it held (taken by calls older than the replay summaries), then what the
    // summaries name, less what it gave back after the call that took it (someone may have it now).
    const back = new Map<string, IntermediateJob>();
    for (const j of log.held) back.set(j.id, j);
    for (const j of taken) if (!(j.seq <= (log.released.get(j.id) ?? -1))) back.set(j.id, { queue: j.queue, id: j.id });
    await this.giveBackTaken([...back.values()]);
  }

  /**
   * What the dead horse's log (lib/DirectLog.ts) says of the jobs it ran straight from their
   * intermediate lists (group commit): those it finished and that are still listed there (their
   * batch was not recorded) are recorded as finished, with what the horse logged; the one it was
   * running is failed (or stopped), as a started job of a dead horse is. None runs again. The rest
   * of what the horse held goes back to the queues (giveBackTaken).
   */
  private async recordDirect(h: ProcessHorse, log: HorseLog, died: string, killReason: string | null): Promise<void> {
    const w = this.worker;
    const listed = (queue: string, id: string): Promise<boolean> =>
      untilAnswered(w, `look up job ${id} of the work horse that died`, () => w.connection.lpos(w.keys.intermediate(queue), id)).then((at) => at !== null);
    try {
      const unrecorded: GroupedSuccess[] = [];
      for (const e of log.finished) if (await listed(e.queue, e.id)) unrecorded.push(e);
      // Chunks: a script call's KEYS stay a few hundred long.
      for (let i = 0; i < unrecorded.length; i += 50) await this.recordSuccesses(unrecorded.slice(i, i + 50));
      const running = log.running;
      if (!running || !(await listed(running.queue, running.id))) return;
      const job = await w.jobClass.fetch(running.id, { connection: w.connection, serializer: w.serializer }).catch(() => null);
      if (!job) return;
      job.origin ??= running.queue;
      await w.engine.lookahead.claimAlone(job);
      // The stop-job command named this job (the worker hash names the job a batch left running).
      const named = (await w.connection.hget(w.key, 'current_job')) === job.id;
      await w.engine.record(job, this.deathOutcome(job, died, killReason === STOPPED_TEXT && !named ? null : killReason));
      w.jobsDone++;
    } catch (err) {
      w.logger.error(`The work horse (pid ${h.pid}) died (${died}) and the jobs it ran directly could not be recorded (maintenance will put them back on their queues): ${formatException(err)}`);
    }
  }

  /** Successes a dead horse logged and Redis had not recorded: one rqFinishMany call, taking no next job. */
  private async recordSuccesses(entries: GroupedSuccess[]): Promise<void> {
    if (entries.length === 0) return;
    const w = this.worker;
    const { rest, args } = finishManyParts(w.keys, entries);
    const working = entries.reduce((sum, e) => sum + e.working, 0);
    const token = w.engine.lookahead.token();
    const reply = await untilAnswered(w, `record the results of ${entries.length} jobs of the work horse that died`, () =>
      runScript(
        w.connection,
        'rqFinishMany',
        { worker: w.key, rest: [...rest, ...NO_NEXT_JOB.keys] },
        { ...args, counts: [String(entries.length), '0', working.toFixed(6)], workerTtl: w.workerTtl + 60, busyWith: '', ...NO_NEXT_JOB.args, workerName: w.name, token },
      ),
    );
    w.logger.warning(`Recorded ${entries.length} job${entries.length === 1 ? '' : 's'} that the work horse finished before it died`);
    w.jobsDone += entries.length;
    w.successfulJobCount += entries.length;
    w.totalWorkingTime += working;
    const outcomes = reply[0].toString('latin1');
    for (const [i, e] of entries.entries()) {
      if (Number(reply[i + 1]) === 0) continue;
      const job = await w.jobClass.fetch(e.id, { connection: w.connection, serializer: w.serializer }).catch(() => null);
      const n = job ? await untilAnswered(w, `enqueue the dependents of job ${e.id}`, () => enqueueDependents(w.connection, job, { deleteSet: outcomes[i + 1] === 'd' })) : 0;
      if (n > 0) w.logger.info(`Enqueued ${n} dependent job${n === 1 ? '' : 's'} of ${e.id}`);
    }
  }

  /**
   * The job the worker's hash names as current (its id, and the job if it still has a hash with an
   * origin), with the execution it was claimed under (protocol 2: rqts_execution, include/claim.lua).
   */
  private async current(): Promise<{ id: string | null; job: Job | null }> {
    const w = this.worker;
    const [id, execId] = await w.connection.hmget(w.key, 'current_job', 'rqts_execution');
    if (!id) return { id: null, job: null };
    // A job that cannot be read (bad data) counts as none; Redis not answering is not that.
    const job = await w.jobClass.fetch(id, { connection: w.connection, serializer: w.serializer }).catch((err: unknown) => {
      if (isTransient(err)) throw err;
      return null;
    });
    if (job) setExecution(job, execId ?? '');
    return { id, job: job?.origin ? job : null };
  }

  /** Whether a heartbeat is under way (one that waits out an outage is not joined by more). */
  private beating = false;

  /** rq's busy heartbeat for the job the horse runs, as the worker's hash names it. */
  private async heartbeat(): Promise<void> {
    if (this.beating) return;
    this.beating = true;
    try {
      const { job } = await untilAnswered(this.worker, 'look up the job of the work horse for its heartbeat', () => this.current());
      if (job) await busyHeartbeat(this.worker, job, job.startedAt);
    } finally {
      this.beating = false;
    }
  }

  /**
   * The jobs the dead horse had taken ahead go back to the head of their queues, in their order (the
   * last first). One it started since is no longer in its intermediate list, and stays as it is.
   */
  private async giveBackTaken(jobs: IntermediateJob[]): Promise<void> {
    const w = this.worker;
    for (const { queue, id } of [...jobs].reverse()) {
      try {
        await giveBack(w, queue, id);
      } catch (err) {
        w.logger.warning(`Could not give back job ${id}, taken ahead by the work horse that died (maintenance will): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private count(report: LoopReport): void {
    const w = this.worker;
    w.jobsDone += report.jobs;
    w.successfulJobCount += report.successful;
    w.failedJobCount += report.failed;
    w.totalWorkingTime += report.workingTime;
  }

  /**
   * The job the horse was running when it died, as the worker's hash names it, is failed here (the
   * cleanup stage of this process, as for any job) — unless its outcome was recorded already (by the
   * horse, or by its watchdog before it ended the process).
   */
  private async recordDeath(h: ProcessHorse, died: string, killReason: string | null): Promise<void> {
    const w = this.worker;
    if (w.concurrency > 1) return this.recordDeathOfAll(h, died, killReason);
    let job: Job | null = null;
    let id: string | null = null;
    try {
      // Waits out an outage: the dead horse's job is recorded here or nowhere before maintenance.
      await untilAnswered(w, `look up the job of the work horse that died (pid ${h.pid})`, async () => {
        const found = await this.current();
        id = found.id;
        // Only a job still registered as started has no outcome yet.
        if (found.job && (await w.connection.zscore(w.keys.started(found.job.origin!), startedMember(found.job.id, executionOf(found.job)))) !== null) job = found.job;
      });
    } catch (err) {
      w.logger.error(`The work horse (pid ${h.pid}) died (${died}) and its job could not be looked up (maintenance will fail it): ${formatException(err)}`);
      return;
    }
    if (!job) {
      w.logger.warning(`The work horse (pid ${h.pid}) died ${id ? `after its job ${id} was recorded` : 'between jobs'}: ${died}`);
      return;
    }
    await w.engine.record(job, this.deathOutcome(job, died, killReason));
    w.jobsDone++;
  }

  /** The failure (or stop) a job of a horse that died is recorded with. */
  private deathOutcome(job: Job, died: string, killReason: string | null): ReturnType<typeof failedOutcome> {
    const stopped = killReason === STOPPED_TEXT;
    const outcome = stopped
      ? failedOutcome(Object.assign(new Error(STOPPED_TEXT), { name: 'StopRequested' }), { stopped: true })
      : failedOutcome(new RqError(killReason === null ? `${died}${pastTimeout(job)}` : died));
    if (stopped && outcome.status === 'failed') outcome.excString = STOPPED_TEXT;
    return outcome;
  }

  /**
   * A horse running jobs concurrently died holding several: the hash names only the latest, so the
   * jobs are found by what the StartedJobRegistries of the worker's queues hold that names this
   * worker (worker_name), and each is failed as a lone job would be. Only at a death: no cost per job.
   */
  private async recordDeathOfAll(h: ProcessHorse, died: string, killReason: string | null): Promise<void> {
    const w = this.worker;
    const held: Job[] = [];
    let current: string | null = null;
    try {
      // The stop-job command kills the horse for the job the hash names: that one is stopped, the others failed.
      current = await w.connection.hget(w.key, 'current_job');
      for (const queue of w.queueNames) {
        // Members are bare ids, or `<id>:<execution>` under protocol 2: the job is failed under its execution.
        const members = await w.connection.zrange(w.keys.started(queue), '0', '-1');
        if (members.length === 0) continue;
        const ids = members.map(jobIdOfMember);
        const owners = await Promise.all(ids.map((id) => w.connection.hget(w.keys.job(id), 'worker_name')));
        for (const [i, id] of ids.entries()) {
          if (owners[i] !== w.name) continue;
          const job = await w.jobClass.fetch(id, { connection: w.connection, serializer: w.serializer }).catch(() => null);
          if (job) {
            job.origin ??= queue;
            setExecution(job, members[i]!.slice(id.length + 1));
            held.push(job);
          }
        }
      }
    } catch (err) {
      w.logger.error(`The work horse (pid ${h.pid}) died (${died}) and its jobs could not be looked up (maintenance will fail them): ${formatException(err)}`);
      return;
    }
    if (held.length === 0) {
      w.logger.warning(`The work horse (pid ${h.pid}) died between jobs: ${died}`);
      return;
    }
    for (const job of held) {
      const stopped = killReason === STOPPED_TEXT && job.id === current;
      await w.engine.record(job, this.deathOutcome(job, died, stopped ? killReason : null));
      w.jobsDone++;
    }
  }
}
