import { BaseDeathPenalty } from './BaseDeathPenalty.js';

/**
 * The default for `Worker`: a timer in the worker process; when it fires the horse is killed
 * (`stop`), which no job code can block or ignore. rq's `UnixSignalDeathPenalty` answers with this.
 */
export class TimerDeathPenalty extends BaseDeathPenalty {
  run<T>(call: () => T | Promise<T>, stop: (reason: Error) => void): Promise<T> {
    if (!this.hasLimit) return Promise.resolve().then(call);
    return new Promise<T>((resolve, reject) => {
      const cancel = this.whenExpired(() => {
        const err = this.timeoutError();
        stop(err);
        reject(err);
      });
      Promise.resolve()
        .then(call)
        .then(resolve, reject)
        .finally(cancel);
    });
  }
}
