import type { Worker } from '../lib/Worker.js';
import type { ProcessHorse } from '../lib/horse/ProcessHorse.js';
import { SpareHorse } from '../lib/horse/SpareHorse.js';
import { startHorse } from '../lib/horse/spec.js';

const PLUGIN_NAME = 'ProcessHorsePlugin';

/**
 * The fork stage of `Worker`: one warm horse process, started with the worker (so a broken
 * config fails at start) and replaced after it dies, times out, or reaches `horse.maxJobs` jobs or
 * `horse.maxMemoryMb` of resident memory; the replacement starts right away, before the next job.
 * With `horse.maxJobs`, the horse that will replace the current one is started while it works
 * (as HorseSupervisor does for a horse that takes its own jobs).
 */
export class ProcessHorsePlugin {
  apply(worker: Worker): void {
    let horse: ProcessHorse | null = null;
    let starting: Promise<ProcessHorse> | null = null;
    const spare = new SpareHorse(worker);

    const start = (): Promise<ProcessHorse> => {
      starting ??= (async () => {
        const h = (await spare.take()) ?? (await startHorse(worker));
        await worker.hooks.horseStarted.promise(worker, h);
        horse = h;
        if (worker.horseOptions.maxJobs !== undefined && !worker.stopRequested) spare.start();
        return h;
      })().finally(() => (starting = null));
      return starting;
    };
    const warm = (): void => {
      start().catch((err: unknown) => worker.logger.error(`Could not start a new work horse: ${err instanceof Error ? err.message : String(err)}`));
    };

    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => {
      await start();
    });

    worker.hooks.fork.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async () => {
      if (horse?.alive) return horse;
      return start();
    });

    worker.hooks.cleanup.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (_job, outcome, w) => {
      if (!horse) return;
      if (!horse.alive) {
        const dead = horse;
        horse = null;
        await w.hooks.horseDied.promise(w, dead, outcome.status === 'failed' ? outcome.error.message : 'the work horse ended');
        if (!w.stopRequested) warm();
        return;
      }
      const { maxJobs, maxMemoryMb } = w.horseOptions;
      const tooMany = maxJobs !== undefined && horse.jobsDone >= maxJobs;
      const tooBig = maxMemoryMb !== undefined && horse.rss !== null && horse.rss > maxMemoryMb * 1024 * 1024;
      if (tooMany || tooBig) {
        w.logger.info(`Replacing the work horse (pid ${horse.pid}) after ${horse.jobsDone} jobs${horse.rss === null ? '' : `, ${Math.round(horse.rss / 1048576)} MiB`}`);
        const old = horse;
        horse = null;
        await old.retire();
        if (!w.stopRequested) warm();
      }
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      const pending = starting;
      if (pending) await pending.catch(() => null);
      await Promise.all([horse?.retire(), spare.retire()]);
      horse = null;
    });
  }
}
