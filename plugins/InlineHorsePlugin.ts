import type { Worker } from '../lib/Worker.js';
import { InlineHorse } from '../lib/horse/InlineHorse.js';

const PLUGIN_NAME = 'InlineHorsePlugin';

/**
 * The fork stage of `SimpleWorker` (and of a horse that takes its own jobs): jobs run in this
 * process. With concurrency > 1 each job has its own horse, so that one is abandoned alone.
 */
export class InlineHorsePlugin {
  apply(worker: Worker): void {
    const horse = new InlineHorse();
    const fork = worker.concurrency > 1 ? async () => new InlineHorse() : async () => horse;
    worker.hooks.fork.tapPromise({ name: PLUGIN_NAME, stage: 100 }, fork);
  }
}
