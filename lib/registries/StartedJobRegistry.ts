import { DEFAULT_FAILURE_TTL } from '../Job.js';
import type { Keys } from '../redis/keys.js';
import { runScript } from '../redis/scripts.js';
import { pythonLocalNow, redisEpochSeconds, utcformat } from '../time.js';
import { BaseRegistry, jobIdOfMember } from './BaseRegistry.js';
import { zlibCompress } from '../zlib.js';

export type AbandonOutcome = 'failed' | 'requeued' | 'scheduled' | 'gone';

/**
 * `rq:wip:<q>`: jobs being worked on; score = last heartbeat + heartbeat TTL. An entry whose score
 * has passed belongs to a worker that stopped heart-beating (it died): cleanup fails the job with
 * rq's `Moved to FailedJobRegistry at ...` (or requeues it when retries remain).
 */
export class StartedJobRegistry extends BaseRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.started(queue);
  }

  async cleanup(now?: number): Promise<void> {
    await this.cleanupExpired(now);
  }

  /**
   * Like cleanup, and says what became of each expired job. `now` defaults to Redis's clock: the
   * scores are heartbeats plus TTLs by that clock, and this process's own may be wrong by minutes.
   */
  async cleanupExpired(now?: number): Promise<Map<string, AbandonOutcome>> {
    const members = await this.connection.zrangebyscore(this.key, 0, now ?? (await redisEpochSeconds(this.connection)));
    const outcomes = new Map<string, AbandonOutcome>();
    if (members.length === 0) return outcomes;
    const excInfo = zlibCompress(Buffer.from(`Moved to FailedJobRegistry at ${pythonLocalNow()}`, 'utf8'));
    for (const member of members) outcomes.set(jobIdOfMember(member), await this.abandon(member, excInfo));
    return outcomes;
  }

  /**
   * Fails one entry as its worker can no longer (or retries it when retries remain), with
   * `excInfo` (zlib-compressed, as rq stores exc_info); 'gone' if it is no longer registered. The
   * FailedJobRegistry score is Redis's clock + the failure TTL.
   */
  async abandon(member: string, excInfo: Buffer): Promise<AbandonOutcome> {
    const keys = this.keys;
    const queue = this.name;
    const id = jobIdOfMember(member);
    return runScript(
      this.connection,
      'rqAbandonStarted',
      {
        wip: this.key,
        job: keys.job(id),
        failed: keys.failed(queue),
        dependents: keys.dependents(id),
        dependencies: keys.dependencies(id),
        queue: keys.queue(queue),
        queues: keys.queues,
        scheduled: keys.scheduled(queue),
      },
      { member, excInfo, defaultFailureTtl: DEFAULT_FAILURE_TTL, nowTs: utcformat(new Date()), queueMember: keys.queue(queue), id },
    );
  }
}
