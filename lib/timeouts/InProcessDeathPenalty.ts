import { createContext, Script } from 'node:vm';
import { BaseDeathPenalty } from './BaseDeathPenalty.js';

// One context reused for every call: creating a V8 context per job would cost milliseconds.
const context = createContext({ call: null as unknown });
const script = new Script('call()');

/**
 * An opt-in for `SimpleWorker`, which has no horse to kill. The job's synchronous part runs under
 * V8's execution watchdog (node:vm `timeout`), so even `while (true) {}` is interrupted and the
 * worker goes on, at the price of a thread node starts per call (~150 µs a job); the
 * asynchronous rest is raced against a timer and abandoned (`stop`) when it fires. A synchronous
 * loop *after* an `await` cannot be interrupted: the LoopWatchdog ends the process then.
 */
export class InProcessDeathPenalty extends BaseDeathPenalty {
  run<T>(call: () => T | Promise<T>, stop: (reason: Error) => void): Promise<T> {
    if (!this.hasLimit) return Promise.resolve().then(call);
    const deadline = Date.now() + this.timeout * 1000;
    let first: T | Promise<T>;
    try {
      context.call = call;
      // node:vm takes at most 2^32 - 1 ms (about 49.7 days).
      first = script.runInContext(context, { timeout: Math.min(this.timeout * 1000, 2 ** 32 - 1), displayErrors: false }) as T | Promise<T>;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        const timeoutErr = this.timeoutError();
        stop(timeoutErr);
        return Promise.reject(timeoutErr);
      }
      return Promise.reject(err);
    } finally {
      context.call = null;
    }
    return new Promise<T>((resolve, reject) => {
      const cancel = this.whenExpired(() => {
        const err = this.timeoutError();
        stop(err);
        reject(err);
      }, deadline - Date.now());
      Promise.resolve(first).then(resolve, reject).finally(cancel);
    });
  }
}
