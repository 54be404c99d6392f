import { RqError } from './RqError.js';

/** A job awaited with `waitForResult` ended without success; `excString` is its traceback as rq stored it. */
export class JobFailedError extends RqError {
  constructor(
    readonly jobId: string,
    /** The job's status when it ended: `failed`, `stopped` or `canceled`. */
    readonly status: string,
    readonly excString: string | null,
    options?: { cause?: unknown },
  ) {
    const summary = excString === null ? null : summaryOf(excString);
    super(`Job ${jobId} ${status === 'failed' ? 'failed' : `ended ${status}`}${summary ? `: ${summary}` : ''}`, options);
  }
}

/** The line that names the error: a Python traceback ends with it, a JavaScript stack starts with it. */
function summaryOf(excString: string): string | null {
  const lines = excString.trim().split('\n');
  const line = lines[0]?.startsWith('Traceback (most recent call last)') ? lines[lines.length - 1] : lines[0];
  return line?.trim() || null;
}
