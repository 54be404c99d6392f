import type { Keys } from '../redis/keys.js';
import { BaseRegistry } from './BaseRegistry.js';

/** `rq:canceled:<q>`: canceled jobs; score = when canceled. */
export class CanceledJobRegistry extends BaseRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.canceled(queue);
  }

  async cleanup(): Promise<void> {
    // rq 1.13 never expires canceled entries; the job hashes expire on their own TTLs.
  }
}
