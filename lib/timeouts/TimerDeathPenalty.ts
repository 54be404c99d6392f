import { BaseDeathPenalty } from './BaseDeathPenalty.js';

/**
 * The default: a timer in the worker process. When it fires, `Worker` kills the horse (`stop`),
 * which no job code can block or ignore; `SimpleWorker` fails the job and leaves its promise behind
 * (a blocked event loop is the LoopWatchdog's). rq's `UnixSignalDeathPenalty` answers with this.
 */
export class TimerDeathPenalty extends BaseDeathPenalty {
  run<T>(call: () => T | Promise<T>, stop: (reason: Error) => void): Promise<T> {
    if (!this.hasLimit) return Promise.resolve().then(call);
    const deadline = Date.now() + this.timeout * 1000;
    return new Promise<T>((resolve, reject) => {
      const cancel = this.whenExpired(() => {
        const err = this.timeoutError();
        stop(err);
        reject(err);
      });
      const failed = (err: unknown): void => {
        cancel();
        reject(err);
      };
      // Called now, its throw caught here: no promise hop of its own before the job runs, and the
      // timer cancelled in the handlers rather than by a finally() (each a promise per job).
      let result: T | Promise<T>;
      try {
        result = call();
      } catch (err) {
        failed(err);
        return;
      }
      Promise.resolve(result).then((value) => {
        cancel();
        // Settled past the deadline before the timer could fire (an in-process job that blocked the
        // event loop meanwhile): rq would have interrupted it, so it has timed out all the same.
        if (Date.now() > deadline) reject(this.timeoutError());
        else resolve(value);
      }, failed);
    });
  }
}
