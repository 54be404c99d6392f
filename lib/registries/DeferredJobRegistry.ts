import type { Keys } from '../redis/keys.js';
import { BaseRegistry } from './BaseRegistry.js';

/** `rq:deferred:<q>`: jobs waiting on dependencies; score = when deferred. Never expires. */
export class DeferredJobRegistry extends BaseRegistry {
  protected keyFor(keys: Keys, queue: string): string {
    return keys.deferred(queue);
  }

  async cleanup(): Promise<void> {
    // rq 1.13 keeps deferred jobs until their dependencies finish.
  }
}
