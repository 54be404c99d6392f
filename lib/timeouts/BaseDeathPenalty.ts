import type { JobTimeoutException } from './JobTimeoutException.js';

export interface DeathPenaltyOptions {
  jobId: string;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export type TimeoutExceptionClass = new (message: string) => Error;

/** How rq constructs a death penalty: `(timeout, JobTimeoutException, {jobId})`. */
export type DeathPenaltyClass = new (timeout: number, exception: TimeoutExceptionClass, options: DeathPenaltyOptions) => BaseDeathPenalty;

/**
 * Enforces a job's timeout. `run` calls the job and settles with its result, or rejects with
 * `exception` once `timeout` seconds have passed, after calling `stop` to end the job for good.
 * A timeout of -1 (or <= 0) means no limit. Subclass it for an app-specific kill.
 */
export abstract class BaseDeathPenalty {
  constructor(
    readonly timeout: number,
    readonly exception: TimeoutExceptionClass | typeof JobTimeoutException,
    readonly options: DeathPenaltyOptions,
  ) {}

  get hasLimit(): boolean {
    return this.timeout > 0;
  }

  /** The error rq raises: `Task exceeded maximum timeout value (N seconds)`. */
  timeoutError(): Error {
    return new this.exception(`Task exceeded maximum timeout value (${this.timeout} seconds)`);
  }

  /**
   * Calls `fire` once `ms` (default: the timeout) have passed; returns what cancels it. Longer than
   * setTimeout's limit (2^31 - 1 ms, about 24.8 days: past it Node fires after 1 ms) is chained.
   */
  protected whenExpired(fire: () => void, ms = this.timeout * 1000): () => void {
    const deadline = Date.now() + ms;
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const left = deadline - Date.now();
      if (left <= 0) fire();
      else timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    };
    timer = setTimeout(arm, Math.min(Math.max(ms, 0), MAX_TIMER_MS));
    return () => clearTimeout(timer);
  }

  abstract run<T>(call: () => T | Promise<T>, stop: (reason: Error) => void): Promise<T>;
}
