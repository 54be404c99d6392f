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
    // The blocked-loop watchdog's thread is started with the worker, not at its first job: starting a
    // Node thread costs ~100 ms of CPU, which then overlaps the worker's registration and the import
    // of the first job's module instead of taking a core from the first jobs and Redis.
    LoopWatchdog.shared();
    const horse = new InlineHorse();
    const fork = worker.concurrency > 1 ? async () => new InlineHorse() : async () => horse;
    worker.hooks.fork.tapPromise({ name: PLUGIN_NAME, stage: 100 }, fork);
  }
}
