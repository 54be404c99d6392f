import { callJobFunction, formatException, resolveJobFunction, toError } from '../execute.js';
import type { Outcome } from '../hooks.js';
import type { Job } from '../Job.js';
import type { Worker } from '../Worker.js';

/** A failed outcome from anything thrown. */
export function failedOutcome(err: unknown, extra: { stopped?: boolean } = {}): Outcome {
  const error = toError(err);
  return { status: 'failed', error, excString: formatException(error), endedAt: new Date(), ...extra };
}

/** Resolves the job's function and calls it here, with no time limit (the caller enforces it). */
export async function runJob(job: Job, worker: Worker): Promise<Outcome> {
  try {
    const fn = await resolveJobFunction(job.funcName, { paths: worker.paths });
    const returnValue = await callJobFunction(job, fn);
    return { status: 'finished', returnValue, endedAt: new Date() };
  } catch (err) {
    return failedOutcome(err);
  }
}
