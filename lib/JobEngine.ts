import { Lookahead } from './Lookahead.js';
import { RqError } from './errors/RqError.js';
import { formatException, toError } from './execute.js';
import type { Outcome } from './hooks.js';
import type { Job } from './Job.js';
import { pause } from './RedisOutage.js';
import { decideProtocol, executionOf, setExecution } from './protocol.js';
import type { Worker } from './Worker.js';

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
 */
export class JobEngine {
  /** Jobs claimed or taken ahead by the default dequeue and the outcome scripts of its jobs. */
  readonly lookahead: Lookahead;

  constructor(private readonly worker: Worker) {
    this.lookahead = new Lookahead(worker);
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
    }
  }

  private async loop(): Promise<void> {
    const w = this.worker;
    let backoff = 1;
    while (!w.stopRequested) {
      let job: Job | void;
      try {
        job = await w.hooks.dequeue.promise(w, w.queues);
        backoff = 1;
      } catch (err) {
        // A dequeue tap that throws took no job: the queues are as they were, and the worker goes on.
        if (w.stopRequested) break;
        w.logger.error(`Could not dequeue: ${formatException(err)}; retrying in ${backoff} s`);
        // A reconnect ends the wait: what failed may have been the connection's doing.
        backoff = (await pause(w, backoff * 1000, w.stopSignal)) ? 1 : Math.min(backoff * 2, 60);
        continue;
      }
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
   * How many more jobs the outcome script of `job` may claim or take ahead: none when the worker
   * stops after it, or when another tap than the default dequeue handed it out.
   */
  jobsAfter(job: Job): number {
    const w = this.worker;
    if (w.stopRequested || !this.lookahead.took(job)) return 0;
    return w.maxJobs === null ? Number.POSITIVE_INFINITY : w.maxJobs - w.jobsDone - 1;
  }

  /** One job through prepare, fork, perform and cleanup; a failure at any stage fails the job, never the worker. */
  async execute(claimed: Job): Promise<Outcome> {
    const w = this.worker;
    let job = claimed;
    let outcome: Outcome = { status: 'pending' };
    this.begin(job);
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
    await this.cleanup(job, outcome);
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

  private begin(job: Job): void {
    const w = this.worker;
    w.currentJob = job;
    w.currentJobId = job.id;
    w.jobStartedAt = job.startedAt ?? new Date();
  }

  private async cleanup(job: Job, outcome: Outcome): Promise<void> {
    const w = this.worker;
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
