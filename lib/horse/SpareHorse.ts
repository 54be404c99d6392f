import type { Worker } from '../Worker.js';
import type { ProcessHorse } from './ProcessHorse.js';
import { startHorse } from './spec.js';

/**
 * With horse.maxJobs, the horse that will replace the current one, started while the current one
 * works: it loads its modules and connects meanwhile, so that a replacement costs the worker no
 * start-up (about 300 ms of a 2-core machine: the gap between two horses' jobs). Used by both kinds
 * of Worker horse: the one that takes its own jobs (HorseSupervisor) and the one sent each job
 * (ProcessHorsePlugin). horseStarted is theirs to fire, when the spare takes over.
 */
export class SpareHorse {
  /** Null when none was started, or once taken; resolves to null when it could not start. */
  private pending: Promise<ProcessHorse | null> | null = null;

  constructor(private readonly worker: Worker) {}

  /** Starts one, unless one is started already. */
  start(): void {
    if (this.pending) return;
    const w = this.worker;
    this.pending = startHorse(w).catch((err: unknown) => {
      w.logger.warning(`Could not start the next work horse ahead (it will be started when needed): ${err instanceof Error ? err.message : String(err)}`);
      return null;
    });
  }

  /** The spare, once ready, if one was started and is still alive; else null (start one as usual). */
  async take(): Promise<ProcessHorse | null> {
    const spare = this.pending && (await this.pending);
    this.pending = null;
    if (!spare) return null;
    if (!spare.alive) {
      this.worker.logger.warning(`The next work horse (pid ${spare.pid}) died before it took over; starting another`);
      return null;
    }
    return spare;
  }

  /** The worker stops: a spare that never took over ends. */
  async retire(): Promise<void> {
    const pending = this.pending;
    this.pending = null;
    await (await pending)?.retire();
  }
}
