import type { Job } from './Job.js';
import type { DeathPenaltyClass } from './timeouts/BaseDeathPenalty.js';
import { InProcessDeathPenalty } from './timeouts/InProcessDeathPenalty.js';
import { Worker, type RqPlugin } from './Worker.js';
import { defaultPlugins } from '../plugins/index.js';

/**
 * A worker that runs each job in its own process (no horse): faster, but a job that crashes the
 * process or blocks its event loop takes the worker with it. Timeouts use InProcessDeathPenalty.
 */
export class SimpleWorker extends Worker {
  static override deathPenaltyClass: DeathPenaltyClass = InProcessDeathPenalty;

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
