import { Lookahead } from './Lookahead.js';
import { PendingCounts } from './PendingCounts.js';
import { RqError } from './errors/RqError.js';
import { formatException, toError } from './execute.js';
import type { Horse, Outcome } from './hooks.js';
import type { Job } from './Job.js';
import { pause } from './RedisOutage.js';
import { decideProtocol, executionOf, setExecution } from './protocol.js';
import type { Worker } from './Worker.js';

/** What dequeue() returns after a failed dequeue and its wait: ask again (unless a stop came). */
const RETRY = Symbol('retry');

/**
 * The job loop, in one place: dequeue -> prepare -> fork -> perform -> cleanup (-> exception, from
 * cleanup), until the worker stops. It runs wherever jobs run: in the worker's own process for
 * SimpleWorker, inside the horse for Worker (and in the worker process when the horse cannot take
 * its own jobs, HorseOptions.loop). Every stage is a hook; the built-in plugins do the work.
 *
 * The engine owns the look-ahead (`lookahead`): the default dequeue registers jobs as started in
 * the same script that takes them, and the outcome script of a job it took also claims or takes the
 * next jobs, so a busy worker needs one round trip per job. Only jobs the default dequeue took have
 * jobs taken after them; a job handed out by another tap gets none, and whatever the default had
 * taken ahead goes back to its queue before that job runs, so nothing waits stranded.
 *
 * With `concurrency` N > 1 the engine dequeues one job at a time but runs up to N at once, each
 * through the same stages as a lone job; nothing is taken ahead, but the outcome script of each job
 * claims the next one for the lane it frees (one round trip per job, as many in flight as jobs run).
 * Each running job sees the worker through a lane (laneOf): the worker itself, except for the fields
 * that describe one job (currentJob, horse, jobStartedAt...), so that the plugins work unchanged. The worker's own fields
 * name the latest job started; its `horse` ends every running job (cold shutdown).
 */
export class JobEngine {
  /** Jobs claimed or taken ahead by the default dequeue and the outcome scripts of its jobs. */
  readonly lookahead: Lookahead;

  /** The worker hash's job counts that the outcome scripts of a burst of short jobs leave to a later one. */
  readonly counts = new PendingCounts();

  /** The jobs running at once (concurrency > 1), in start order, each with its lane. */
  private readonly running = new Map<Job, Worker>();

  constructor(private readonly worker: Worker) {
    this.lookahead = new Lookahead(worker);
  }

  /** How many jobs run now (concurrency > 1; 0 otherwise). */
  get runningCount(): number {
    return this.running.size;
  }

  /** The horse running the job `id` among concurrent jobs (concurrency > 1), if it runs here. */
  horseOf(id: string): Horse | null {
    for (const [job, lane] of this.running) if (job.id === id) return lane.horse;
    return null;
  }

  /**
   * For the outcome script of `job`: '' when the worker goes idle after it, else the id of the latest
   * job started that still runs (concurrency > 1), which the worker's hash then names.
   */
  stillRunning(job: Job): string {
    if (this.running.size < 2) return '';
    let latest = '';
    for (const other of this.running.keys()) if (other !== job) latest = other.id;
    return latest;
  }

  /** Runs jobs until the worker stops (signal, burst drained, maxJobs); then gives back what it took ahead. */
  async run(): Promise<void> {
    const w = this.worker;
    await this.decideProtocol();
    // 'auto' looks again as often as maintenance runs: a python-rq 1.x worker that joins turns it to 1.
    const timer = w.protocol === 'auto' ? setInterval(() => void this.decideProtocol(), w.maintenanceInterval * 1000) : null;
    timer?.unref();
    try {
      await this.loop();
    } finally {
      if (timer) clearInterval(timer);
      try {
        await this.lookahead.release();
      } catch (err) {
        this.worker.logger.error(`Could not give back the jobs taken ahead: ${err instanceof Error ? err.message : String(err)}`);
      }
      try {
        await this.counts.flush(this.worker);
      } catch (err) {
        this.worker.logger.error(`Could not record the job counts (successful_job_count, failed_job_count, total_working_time): ${formatException(err)}`);
      }
    }
  }

  /** Seconds to wait before the next dequeue after one failed; doubles up to 60 s. */
  private dequeueBackoff = 1;

  /**
   * The dequeue stage once. A tap that throws took no job (the queues are as they were): the error
   * is logged, the worker waits and goes on, and RETRY says to ask again (or to check for a stop).
   */
  private async dequeue(): Promise<Job | void | typeof RETRY> {
    const w = this.worker;
    try {
      const job = await w.hooks.dequeue.promise(w, w.queues);
      this.dequeueBackoff = 1;
      return job;
    } catch (err) {
      if (w.stopRequested) return RETRY;
      w.logger.error(`Could not dequeue: ${formatException(err)}; retrying in ${this.dequeueBackoff} s`);
      // A reconnect ends the wait: what failed may have been the connection's doing.
      this.dequeueBackoff = (await pause(w, this.dequeueBackoff * 1000, w.stopSignal)) ? 1 : Math.min(this.dequeueBackoff * 2, 60);
      return RETRY;
    }
  }

  private async loop(): Promise<void> {
    if (this.worker.concurrency > 1) return this.loopConcurrently();
    const w = this.worker;
    while (!w.stopRequested) {
      const job = await this.dequeue();
      if (job === RETRY) continue;
      if (!job) break;
      if (!this.lookahead.took(job)) await this.giveBackLookahead(job);
      await this.execute(job);
      w.jobsDone++;
      if (w.maxJobs !== null && w.jobsDone >= w.maxJobs) {
        // A horse's loop also ends at the jobs left before it is replaced: its worker says when it quits.
        if (w.role === 'worker') w.logger.info(`Worker ${w.key}: finished executing ${w.jobsDone} jobs, quitting`);
        break;
      }
    }
  }

  /** Sets worker.executions (the protocol claims write, lib/protocol.ts) and logs it when it changes. */
  private async decideProtocol(): Promise<void> {
    const w = this.worker;
    let decided: Awaited<ReturnType<typeof decideProtocol>>;
    try {
      decided = await decideProtocol(w);
    } catch (err) {
      // Not known: keep what was decided, which is protocol 1 until a decision was made.
      w.logger.warning(`Could not look at the registered workers to choose the protocol (keeping protocol ${w.executions ? 2 : 1}): ${formatException(err)}`);
      return;
    }
    if (this.protocolLogged && decided.executions === w.executions) return;
    this.protocolLogged = true;
    w.executions = decided.executions;
    // The default says nothing: the worker writes what it always wrote.
    if (w.protocol === 1) return;
    w.logger.info(`Protocol ${decided.executions ? '2 (rq 2.x executions)' : "1 (rq 1.13's bare StartedJobRegistry ids)"}: ${decided.why}`);
  }

  private protocolLogged = false;

  /**
   * Up to `concurrency` jobs at once: a free lane dequeues the next job. A warm shutdown (or burst
   * drained, or maxJobs) stops the dequeues and waits for every running job.
   */
  private async loopConcurrently(): Promise<void> {
    const w = this.worker;
    const lanes = new Set<Promise<void>>();
    const previousHorse = w.horse;
    // Cold shutdown (requestForceStop) and the kill commands end the worker's horse: here, every running job.
    w.horse = this.allJobs();
    try {
      while (!w.stopRequested) {
        if (lanes.size >= w.concurrency) {
          await Promise.race(lanes);
          continue;
        }
        // maxJobs counts the running jobs too: no more are started than it allows.
        if (w.maxJobs !== null && w.jobsDone + lanes.size >= w.maxJobs) break;
        const job = await this.dequeue();
        if (job === RETRY) continue;
        if (!job) {
          // Burst with jobs still running: they may enqueue more (dependents, retries), so look again after one ends.
          if (w.burst && !w.stopRequested && lanes.size > 0) {
            await Promise.race(lanes);
            continue;
          }
          break;
        }
        const lane = this.runInLane(job).finally(() => lanes.delete(lane));
        lanes.add(lane);
      }
      await Promise.all(lanes);
    } finally {
      w.horse = previousHorse;
    }
    if (w.maxJobs !== null && w.jobsDone >= w.maxJobs && w.role === 'worker') w.logger.info(`Worker ${w.key}: finished executing ${w.jobsDone} jobs, quitting`);
  }

  /** One job of several running at once, through its lane; the worker's fields follow the latest job started. */
  private async runInLane(job: Job): Promise<void> {
    const w = this.worker;
    const lane = laneOf(w);
    this.running.set(job, lane);
    w.currentJob = job;
    w.currentJobId = job.id;
    w.jobStartedAt = job.startedAt ?? new Date();
    try {
      await this.execute(job, lane);
    } finally {
      this.running.delete(job);
      w.jobsDone++;
      let latest: Job | null = null;
      for (const other of this.running.keys()) latest = other;
      w.currentJob = latest;
      w.currentJobId = latest?.id ?? null;
      w.jobStartedAt = latest ? (latest.startedAt ?? w.jobStartedAt) : null;
      if (!latest) w.state = 'idle';
    }
  }

  /** A horse that stands for every running job: kill() ends each one (its own horse's kill). */
  private allJobs(): Horse {
    return {
      pid: process.pid,
      perform: () => Promise.reject(new RqError('The concurrent job engine runs each job on its own horse')),
      kill: (reason: string) => {
        for (const lane of this.running.values()) lane.horse?.kill(reason);
      },
    };
  }

  /**
   * How many more jobs the outcome script of `job` may claim or take ahead: none when the worker
   * stops after it, or when another tap than the default dequeue handed it out.
   */
  jobsAfter(job: Job): number {
    const w = this.worker;
    // Concurrent jobs: each outcome script claims the next job for the lane it frees (one round trip
    // per job, as many in flight as jobs run), and takes none ahead. Under maxJobs, none.
    if (w.concurrency > 1) return w.stopRequested || w.maxJobs !== null ? 0 : 1;
    if (w.stopRequested || !this.lookahead.took(job)) return 0;
    return w.maxJobs === null ? Number.POSITIVE_INFINITY : w.maxJobs - w.jobsDone - 1;
  }

  /** One job through prepare, fork, perform and cleanup; a failure at any stage fails the job, never the worker. */
  async execute(claimed: Job, w: Worker = this.worker): Promise<Outcome> {
    let job = claimed;
    let outcome: Outcome = { status: 'pending' };
    this.begin(job, w);
    try {
      job = await w.hooks.prepare.promise(job, w);
      // A tap may hand back another object for the job: it runs under the execution claimed.
      if (job !== claimed) setExecution(job, executionOf(claimed));
      w.currentJob = job;
      w.horse = (await w.hooks.fork.promise(job, w)) ?? null;
      outcome = await w.hooks.perform.promise(outcome, job, w);
      if (outcome.status === 'pending') {
        throw new RqError(`No plugin performed job ${job.id}: a tap of the "perform" hook must return an outcome`);
      }
    } catch (err) {
      const error = toError(err);
      outcome = { status: 'failed', error, excString: formatException(error), endedAt: new Date() };
    }
    await this.cleanup(job, outcome, w);
    return outcome;
  }

  /**
   * The cleanup stage alone, for a job whose other stages ran elsewhere: the job of a horse that
   * died before it could record it (the worker process records it, as rq's worker does).
   */
  async record(job: Job, outcome: Outcome): Promise<void> {
    this.begin(job);
    await this.cleanup(job, outcome);
  }

  private begin(job: Job, w: Worker = this.worker): void {
    w.currentJob = job;
    w.currentJobId = job.id;
    w.jobStartedAt = job.startedAt ?? new Date();
  }

  private async cleanup(job: Job, outcome: Outcome, w: Worker = this.worker): Promise<void> {
    try {
      await w.hooks.cleanup.promise(job, outcome, w);
    } catch (err) {
      // A cleanup tap failed after the outcome was recorded (the failures of earlier taps become
      // the job's failure, see hooks.ts): the worker goes on.
      w.logger.error(`Cleanup of job ${job.id} failed: ${formatException(err)}`);
    } finally {
      w.currentJob = null;
      w.currentJobId = null;
      w.horse = null;
      w.jobStartedAt = null;
    }
  }

  /** A tap before the default dequeue handed out `job`: what the default took ahead goes back first. */
  private async giveBackLookahead(job: Job): Promise<void> {
    try {
      await this.lookahead.release();
    } catch (err) {
      this.worker.logger.warning(`Could not give back the jobs taken ahead before job ${job.id} (maintenance will): ${formatException(err)}`);
    }
  }
}

/** The fields of a worker that describe the one job it runs: each concurrent job has its own. */
const LANE_FIELDS = new Set<string | symbol>(['currentJob', 'currentJobId', 'horse', 'jobStartedAt', 'state']);

/**
 * The worker as one of its concurrent jobs sees it: the same object for everything but LANE_FIELDS,
 * which are the lane's own, so that the stages (plugins) of several jobs at once do not overwrite
 * each other's job, horse and start time.
 */
function laneOf(worker: Worker): Worker {
  const own: Record<string | symbol, unknown> = { currentJob: null, currentJobId: null, horse: null, jobStartedAt: null, state: 'busy' };
  return new Proxy(worker, {
    get: (target, key) => (LANE_FIELDS.has(key) ? own[key] : Reflect.get(target, key, target)),
    set: (target, key, value) => {
      if (LANE_FIELDS.has(key)) own[key] = value;
      else Reflect.set(target, key, value, target);
      return true;
    },
  });
}
