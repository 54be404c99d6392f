import { DEFAULT_FAILURE_TTL } from '../Job.js';
import type { Keys } from '../redis/keys.js';
import { runScript } from '../redis/scripts.js';
import { pythonLocalNow, redisEpochSeconds, utcformat } from '../time.js';
import { BaseRegistry, jobIdOfMember } from './BaseRegistry.js';
import { zlibCompress } from '../zlib.js';
import { Result, ResultType } from '../Result.js';

export type AbandonOutcome = 'failed' | 'requeued' | 'scheduled' | 'gone';

/**
 * `rq:wip:<q>`: jobs being worked on; score = last heartbeat + heartbeat TTL. An entry whose score
 * has passed belongs to a worker that stopped heart-beating (it died): cleanup fails the job with
 * rq's `Moved to FailedJobRegistry at ...` (or requeues it when retries remain), and a failure
 * entry in its result stream as rq 2.x writes one. A member `<id>:<execution id>` was written by
 * an rq 2.x worker: its job gets 2.x's wording (`..., due to AbandonedJobError, at <UTC>`) and its
 * execution keys go; a bare id gets 1.13's wording (its local time, as 1.13 prints it).
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
    for (const member of members) outcomes.set(jobIdOfMember(member), await this.abandon(member, null));
    return outcomes;
  }

  /**
   * Fails one entry as its worker can no longer (or retries it when retries remain), with
   * `excText` as exc_info and the result entry's exc_string (null: rq's abandoned-job wording for
   * the member's form); `workerName` goes in the result entry ('' for a cleanup, as rq 2.x).
   * 'gone' if it is no longer registered. The FailedJobRegistry score is Redis's clock + the failure TTL.
   * `orIntermediate`: a job not registered is failed from its queue's intermediate list, where a
   * SimpleWorker's group commit runs short jobs (the watchdog's case).
   */
  async abandon(member: string, excText: string | null, workerName = '', orIntermediate = false): Promise<AbandonOutcome> {
    const keys = this.keys;
    const queue = this.name;
    const id = jobIdOfMember(member);
    const execId = member.length > id.length ? member.slice(id.length + 1) : '';
    // str(datetime.now(timezone.utc)) in 2.x; 1.13 printed its naive local now.
    const text = excText ?? (execId ? `Moved to FailedJobRegistry, due to AbandonedJobError, at ${utcformat(new Date()).replace('T', ' ').replace('Z', '+00:00')}` : `Moved to FailedJobRegistry at ${pythonLocalNow()}`);
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
        results: keys.results(id),
        execution: keys.execution(member),
        executions: keys.executions(id),
        intermediate: keys.intermediate(queue),
      },
      {
        member,
        excInfo: zlibCompress(Buffer.from(text, 'utf8')),
        defaultFailureTtl: DEFAULT_FAILURE_TTL,
        nowTs: utcformat(new Date()),
        queueMember: keys.queue(queue),
        id,
        execId,
        result: Result.failureFields(text, ResultType.FAILED, workerName),
        orIntermediate: orIntermediate ? '1' : '0',
      },
    );
  }
}
