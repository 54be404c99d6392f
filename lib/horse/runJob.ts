import { callJobFunction, formatException, resolveJobFunction, toError } from '../execute.js';
import type { Outcome } from '../hooks.js';
import type { Job } from '../Job.js';
import { JobTimeoutException } from '../timeouts/JobTimeoutException.js';
import type { Worker } from '../Worker.js';

/** A failed outcome from anything thrown. */
export function failedOutcome(err: unknown, extra: { stopped?: boolean } = {}): Outcome {
  const error = toError(err);
  return { status: 'failed', error, excString: formatException(error), endedAt: new Date(), ...extra };
}


async function callWithin(seconds: number, what: string, call: () => unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(call),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new JobTimeoutException(`${what} exceeded maximum timeout value (${seconds} seconds)`)), seconds * 1000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * rq's job callbacks, run where the job ran: `onSuccess(job, connection, result)` after a success
 * (an error or a timeout there fails the job), `onFailure(job, connection, error)` after a failure
 * (an error there replaces the job's). Each has the worker's callbackTimeout (rq's 60 s).
 */
export async function applyCallbacks(job: Job, worker: Worker, outcome: Outcome): Promise<Outcome> {
  const where = { paths: worker.paths, allowedModules: worker.allowedModules };
  if (outcome.status === 'finished' && job.successCallbackName) {
    try {
      const cb = await resolveJobFunction(job.successCallbackName, where);
      await callWithin(worker.callbackTimeout, `Success callback ${job.successCallbackName}`, () => cb(job, worker.connection, outcome.returnValue));
    } catch (err) {
      return failedOutcome(err);
    }
  } else if (outcome.status === 'failed' && job.failureCallbackName) {
    try {
      const cb = await resolveJobFunction(job.failureCallbackName, where);
      await callWithin(worker.callbackTimeout, `Failure callback ${job.failureCallbackName}`, () => cb(job, worker.connection, outcome.error));
    } catch (err) {
      worker.logger.error(`Failure callback ${job.failureCallbackName} of job ${job.id} failed: ${formatException(err)}`);
      return failedOutcome(err);
    }
  }
  return outcome;
}

/** Resolves the job's function and calls it here, then its callbacks; no time limit on the job itself (the caller enforces it). */
export async function runJob(job: Job, worker: Worker): Promise<Outcome> {
  let outcome: Outcome;
  try {
    const fn = await resolveJobFunction(job.funcName, { paths: worker.paths, allowedModules: worker.allowedModules });
    const returnValue = await callJobFunction(job, fn);
    outcome = { status: 'finished', returnValue, endedAt: new Date() };
  } catch (err) {
    outcome = failedOutcome(err);
  }
  return applyCallbacks(job, worker, outcome);
}
