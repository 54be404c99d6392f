import { InvalidOperationError } from '../errors/InvalidOperationError.js';
import { NoSuchJobError } from '../errors/NoSuchJobError.js';
import type { Job } from '../Job.js';
import { Queue } from '../Queue.js';
import type { Keys } from '../redis/keys.js';
import { ExpiringRegistry } from './BaseRegistry.js';

/** `rq:failed:<q>`: score = failure time + failure_ttl (default one year). */
export class FailedJobRegistry extends ExpiringRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.failed(queue);
  }

  /**
   * Puts a failed job back on its queue (rq's `requeue`): out of this registry, started/ended/exc_info
   * cleared, enqueued again. Throws if the job is not in this registry.
   */
  async requeue(jobOrId: Job | string): Promise<Job> {
    const id = typeof jobOrId === 'string' ? jobOrId : jobOrId.id;
    const job = await this.fetch(id);
    if (!job) {
      await this.connection.zrem(this.key, id);
      throw new NoSuchJobError(`No such job: ${id} (its hash is gone, so it cannot be requeued)`);
    }
    if ((await this.connection.zrem(this.key, id)) === 0) {
      throw new InvalidOperationError(`Job ${id} is not in the FailedJobRegistry of queue ${this.name}`);
    }
    job.startedAt = null;
    job.endedAt = null;
    job.excInfo = '';
    const queue = new Queue(job.origin ?? this.name, { connection: this.connection, jobClass: this.jobClass, serializer: this.serializer });
    return queue.enqueueJob(job);
  }
}
