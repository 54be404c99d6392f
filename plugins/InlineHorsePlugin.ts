import type { Worker } from '../lib/Worker.js';
import { InlineHorse } from '../lib/horse/InlineHorse.js';

const PLUGIN_NAME = 'InlineHorsePlugin';

/** The fork stage of `SimpleWorker`: jobs run in the worker's own process. */
export class InlineHorsePlugin {
  apply(worker: Worker): void {
    const horse = new InlineHorse();
    worker.hooks.fork.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async () => horse);
  }
}
