import { callJobFunction, resolvedJobFunction, resolveJobFunction } from '../execute.js';
import type { Horse, Outcome } from '../hooks.js';
import { DEFAULT_TIMEOUT, type Job } from '../Job.js';
import { JobTimeoutException } from '../timeouts/JobTimeoutException.js';
import { LoopWatchdog } from '../timeouts/LoopWatchdog.js';
import type { Worker } from '../Worker.js';
import { applyCallbacks, failedOutcome } from './runJob.js';

/**
 * `SimpleWorker`'s horse: the job runs in the worker's own process, under the death penalty, and
 * watched by the LoopWatchdog, which ends the process if the job blocks the event loop past its timeout.
 */
export class InlineHorse implements Horse {
  readonly pid = process.pid;
  private abandon: ((outcome: Outcome) => void) | null = null;

  async perform(job: Job, worker: Worker): Promise<Outcome> {
    let fn: Awaited<ReturnType<typeof resolveJobFunction>>;
    try {
      const where = { paths: worker.paths, allowedModules: worker.allowedModules };
      fn = resolvedJobFunction(job.funcName, where) ?? (await resolveJobFunction(job.funcName, where));
    } catch (err) {
      return applyCallbacks(job, worker, failedOutcome(err));
    }
    const timeout = job.timeout ?? DEFAULT_TIMEOUT;
    const penalty = new worker.deathPenaltyClass(timeout, JobTimeoutException, { jobId: job.id });
    const killed = new Promise<Outcome>((resolve) => (this.abandon = resolve));
    const watchdog = penalty.hasLimit ? LoopWatchdog.shared() : null;
    const slot = watchdog ? watchdog.arm(worker, job.id, timeout, Date.now() + timeout * 1000) : -1;
    try {
      const run = penalty
        .run(
          () => callJobFunction(job, fn),
          () => {},
        )
        .then((returnValue): Outcome => ({ status: 'finished', returnValue, endedAt: new Date() }), (err: unknown) => failedOutcome(err));
      const outcome = await Promise.race([run, killed]);
      // In a horse that takes its own jobs, a job left running past its timeout ends the horse after
      // its failure is recorded (its worker starts another), as a timed-out job's horse is killed.
      if (worker.role === 'horse' && outcome.status === 'failed' && outcome.error instanceof JobTimeoutException) {
        worker.requestStop(`after job ${job.id} was left running past its timeout of ${timeout} s`, false);
      }
      // Without callbacks, no call to the async applyCallbacks (a promise per job).
      if (outcome.status === 'pending' || (!job.successCallbackName && !job.failureCallbackName)) return outcome;
      return await applyCallbacks(job, worker, outcome);
    } finally {
      watchdog?.disarm(slot);
      this.abandon = null;
    }
  }

  /** Abandons the running job: its promise is left to settle unobserved (no process to kill). */
  kill(reason: string): void {
    this.abandon?.(failedOutcome(new Error(`Job abandoned: ${reason}`)));
  }
}
