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
      Promise.resolve()
        .then(call)
        // Settled past the deadline before the timer could fire (an in-process job that blocked the
        // event loop meanwhile): rq would have interrupted it, so it has timed out all the same.
        .then((value) => (Date.now() > deadline ? reject(this.timeoutError()) : resolve(value)), reject)
        .finally(cancel);
    });
  }
}
