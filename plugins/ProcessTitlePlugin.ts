import type { Worker } from '../lib/Worker.js';

const PLUGIN_NAME = 'ProcessTitlePlugin';

/** What `ps` and `top` show (rq's setproctitle): `rq: Listening on default` / `rq: Processing tasks.x since ...`. */
export class ProcessTitlePlugin {
  apply(worker: Worker): void {
    const set = (title: string): void => {
      process.title = `rq: ${title}`;
    };
    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => set('Starting'));
    worker.hooks.dequeue.tapPromise({ name: PLUGIN_NAME, stage: -100 }, async (w) => {
      set(`Listening on ${w.queueNames.join(',')}`);
      return undefined;
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
