import type { Keys } from '../redis/keys.js';
import { ExpiringRegistry } from './BaseRegistry.js';

/** `rq:finished:<q>`: score = end time + result_ttl (`+inf` when kept forever). */
export class FinishedJobRegistry extends ExpiringRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.finished(queue);
  }
}
