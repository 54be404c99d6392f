import type { Job } from './Job.js';
import type { DeathPenaltyClass } from './timeouts/BaseDeathPenalty.js';
import { TimerDeathPenalty } from './timeouts/TimerDeathPenalty.js';
import { Worker, type RqPlugin } from './Worker.js';
import { defaultPlugins } from '../plugins/index.js';

/**
 * A worker that runs each job in its own process (no horse): faster, but a job that crashes the
 * process takes the worker with it. Timeouts use TimerDeathPenalty (a job still running at its
 * timeout fails and is left behind); a job that blocks the event loop past its timeout makes the
 * LoopWatchdog record its failure and end the process. InProcessDeathPenalty (opt-in) interrupts
 * such a job instead, for about 150 µs per job.
 */
export class SimpleWorker extends Worker {
  static override deathPenaltyClass: DeathPenaltyClass = TimerDeathPenalty;

  protected override defaultPlugins(): RqPlugin[] {
    return defaultPlugins(this, 'inline');
  }

  override get claimMode(): 'inline' | 'process' {
    return 'inline';
  }

  /** rq's SimpleWorker rule: no heartbeat can be relied on while a job runs in-process. */
  override heartbeatTtl(job: Job): number {
    const timeout = job.timeout ?? 180;
    return timeout <= 0 ? 420 : timeout + 60;
  }
}
