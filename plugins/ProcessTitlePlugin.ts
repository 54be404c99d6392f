import type { Worker } from '../lib/Worker.js';

const PLUGIN_NAME = 'ProcessTitlePlugin';

/** What `ps` and `top` show (rq's setproctitle): `rq: Listening on default` / `rq: Processing tasks.x since ...`. */
export class ProcessTitlePlugin {
  apply(worker: Worker): void {
    const set = (title: string): void => {
      process.title = `rq: ${title}`;
    };
    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => set('Starting'));
    // "Listening" when the worker registers and whenever it goes idle (the idle heartbeat before its
    // blocking wait), not at every dequeue: a busy worker would set it between every two jobs.
    const listening = (w: Worker): void => set(`Listening on ${w.queueNames.join(',')}`);
    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => listening(w));
    worker.hooks.heartbeat.tapPromise(PLUGIN_NAME, async (w) => {
      if (w.state === 'idle') listening(w);
    });
    worker.hooks.prepare.tapPromise(PLUGIN_NAME, async (job, w) => {
      let func = job.id;
      try {
        func = job.funcName;
      } catch {
        // undecodable: show the id
      }
      set(`Processing ${func} from ${job.origin ?? w.queueNames[0]} since ${new Date().toISOString()}`);
      return job;
    });
    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => set('Shutting down'));
  }
}
