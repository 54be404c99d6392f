import type { Keys } from '../redis/keys.js';
import { BaseRegistry } from './BaseRegistry.js';

/** `rq:scheduled:<q>`: score = the UTC epoch second at which the job is due. */
export class ScheduledJobRegistry extends BaseRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.scheduled(queue);
  }

  async cleanup(): Promise<void> {
    // Scores are run times, not expiry times: the scheduler, not a cleanup, empties this registry.
  }

  /** When the job is due, or null if it is not scheduled here. */
  async getScheduledTime(jobOrId: { id: string } | string): Promise<Date | null> {
    const score = await this.connection.zscore(this.key, typeof jobOrId === 'string' ? jobOrId : jobOrId.id);
    return score === null ? null : new Date(Number(score) * 1000);
  }
}
