import type { Worker } from '../lib/Worker.js';
import { InlineHorse } from '../lib/horse/InlineHorse.js';
import { LoopWatchdog } from '../lib/timeouts/LoopWatchdog.js';

const PLUGIN_NAME = 'InlineHorsePlugin';

/**
 * The fork stage of `SimpleWorker` (and of a horse that takes its own jobs): jobs run in this
 * process. With concurrency > 1 each job has its own horse, so that one is abandoned alone.
 */
export class InlineHorsePlugin {
  apply(worker: Worker): void {
    const horse = new InlineHorse();
    // A synchronous tap: a promise tap costs every job three promises.
    worker.hooks.fork.tap({ name: PLUGIN_NAME, stage: 100 }, worker.concurrency > 1 ? () => new InlineHorse() : () => horse);
    // The blocked-loop watchdog's thread takes ~100 ms of CPU to boot: started at the worker's start it
    // boots while the worker registers, not beside its first jobs (on two cores, Redis's core).
    worker.hooks.startup.tap(PLUGIN_NAME, () => void LoopWatchdog.shared());
  }
}
