import type { Worker } from '../lib/Worker.js';

const PLUGIN_NAME = 'ProcessTitlePlugin';

/**
 * Titles are written at most once per this many ms; a newer one waits for the rest of the interval.
 * Setting process.title costs a few µs (system calls), paid per job by a worker running short jobs
 * back to back, whose titles nobody can read at that pace anyway.
 */
const TITLE_INTERVAL_MS = 100;

/** What `ps` and `top` show (rq's setproctitle): `rq: Listening on default` / `rq: Processing tasks.x since ...`. */
export class ProcessTitlePlugin {
  apply(worker: Worker): void {
    let writtenAt = -Infinity;
    // The title to write, built only when written: most titles of a busy worker are replaced unseen.
    let pending: (() => string) | null = null;
    let timer: NodeJS.Timeout | null = null;
    const write = (): void => {
      timer = null;
      if (pending === null) return;
      process.title = `rq: ${pending()}`;
      pending = null;
      writtenAt = performance.now();
    };
    const set = (title: () => string): void => {
      pending = title;
      const wait = writtenAt + TITLE_INTERVAL_MS - performance.now();
      if (wait <= 0) write();
      else timer ??= setTimeout(write, wait).unref();
    };
    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => set(() => 'Starting'));
    // "Listening" when the worker registers and whenever it goes idle (the idle heartbeat before its
    // blocking wait), not at every dequeue: a busy worker would set it between every two jobs.
    const listening = (w: Worker): void => set(() => `Listening on ${w.queueNames.join(',')}`);
    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => listening(w));
    worker.hooks.heartbeat.tapPromise(PLUGIN_NAME, async (w) => {
      if (w.state === 'idle') listening(w);
    });
    // A synchronous tap: a promise tap costs every job three promises.
    worker.hooks.prepare.tap(PLUGIN_NAME, (job, w) => {
      const since = Date.now();
      set(() => {
        let func = job.id;
        try {
          func = job.funcName;
        } catch {
          // undecodable: show the id
        }
        return `Processing ${func} from ${job.origin ?? w.queueNames[0]} since ${new Date(since).toISOString()}`;
      });
      return job;
    });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      // The last title is written now: the process may exit before a timer would fire.
      if (timer) clearTimeout(timer);
      pending = () => 'Shutting down';
      write();
    });
  }
}
