import type { DeathPenaltyClass } from './timeouts/BaseDeathPenalty.js';
import { TimerDeathPenalty } from './timeouts/TimerDeathPenalty.js';
import { Worker } from './Worker.js';

/**
 * A worker that runs each job in its own process (no horse): faster, but a job that crashes the
 * process takes the worker with it. Timeouts use TimerDeathPenalty (a job still running at its
 * timeout fails and is left behind); a job that blocks the event loop past its timeout makes the
 * LoopWatchdog record its failure and end the process. InProcessDeathPenalty (opt-in) interrupts
 * such a job instead, for about 150 µs per job.
 */
export class SimpleWorker extends Worker {
  static override deathPenaltyClass: DeathPenaltyClass = TimerDeathPenalty;

  override get horseKind(): 'process' | 'inline' {
    return 'inline';
  }
}
