import type { Redis } from 'ioredis';
import type { Queue } from './Queue.js';
import { duplicateConnection, isCluster } from './redis/connection.js';
import type { Worker } from './Worker.js';

/** The channel Redis publishes key invalidations on for a RESP2 connection that tracks with REDIRECT. */
const INVALIDATE = '__redis__:invalidate';

/**
 * The fewest key prefixes that cover `keys`: Redis refuses overlapping prefixes in one CLIENT
 * TRACKING BCAST call (`rq:queue:high` and `rq:queue:high2`), and the shorter one covers both.
 */
export function coveringPrefixes(keys: readonly string[]): string[] {
  const kept: string[] = [];
  for (const key of [...new Set(keys)].sort()) {
    if (!kept.some((p) => key.startsWith(p))) kept.push(key);
  }
  return kept;
}

/**
 * Waits until one of a worker's queues may have a job, without taking it, on ONE connection whatever
 * the number of queues (python-rq's BLPOP on all queues pops the job, so a worker killed right after
 * loses it; rq-ts takes jobs with a script that leaves them in Redis).
 *
 * The connection asks Redis to tell it about every write to the queue keys (CLIENT TRACKING in
 * broadcast mode, redirected to itself, RESP2, on the invalidation channel): any push onto a queue
 * (rq-ts's or python-rq's enqueue, a requeue, the scheduler) publishes the key's name at once. Each
 * message bumps a counter; a dequeue reads the counter before it looks at the queues (`mark`) and waits
 * only while it is unchanged, so a job pushed between the look and the wait is never missed. When Redis
 * refuses tracking (an ACL without CLIENT), and on a Redis Cluster, it waits with one blocking BLMOVE
 * per queue instead.
 */
export class QueueWaiter {
  private tracking: Redis | null = null;
  private trackingReady: Promise<'tracking' | 'blocking' | 'retry'> | null = null;
  /** Writes to the queues seen (and reconnects, after which writes may have been missed). */
  private seq = 0;
  private wake: (() => void) | null = null;
  private closed = false;
  private readonly blocking = new Map<string, Redis>();
  private readonly pending = new Map<string, Promise<unknown>>();

  constructor(private readonly worker: Worker) {}

  /** The counter to pass to wait(): read it before looking at the queues. */
  mark(): number {
    return this.seq;
  }

  /** Resolves when a queue may have a job since `since` (a mark()), the wait times out, or the waiter is closed. */
  async wait(queues: readonly Queue[], timeoutSeconds: number, since: number): Promise<void> {
    // A stop that came while the worker was not waiting must not start a new wait.
    if (this.closed) return;
    const mode = await this.track(queues);
    if (mode === 'blocking') {
      await this.blockOnEach(queues, timeoutSeconds);
      return;
    }
    // Not set up (Redis unreachable): a short wait, then the dequeue looks again and so does this.
    const seconds = mode === 'tracking' ? timeoutSeconds : Math.min(timeoutSeconds, 1);
    if (this.seq !== since || this.closed) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, seconds * 1000);
    }).finally(() => {
      clearTimeout(timer);
      this.wake = null;
    });
  }

  /** Sets up tracking once: `tracking`, `blocking` when Redis refuses it, `retry` when Redis could not be reached. */
  private async track(queues: readonly Queue[]): Promise<'tracking' | 'blocking' | 'retry'> {
    this.trackingReady ??= this.startTracking(queues);
    const mode = await this.trackingReady;
    if (mode === 'retry') this.trackingReady = null;
    return mode;
  }

  private async startTracking(queues: readonly Queue[]): Promise<'tracking' | 'blocking' | 'retry'> {
    const w = this.worker;
    // CLIENT TRACKING is one node's: on a cluster it would have to follow the queues' slot from node
    // to node (resharding, failover). BLMOVE is keyed, so the Cluster client routes it and follows MOVED.
    if (isCluster(w.connection)) return 'blocking';
    const keys = new Set(queues.map((q) => q.key));
    const prefixes = coveringPrefixes([...keys]);
    // RESP2 (all ioredis 5 speaks): invalidations come as messages on the invalidation channel.
    const c = duplicateConnection(w.connection, { maxRetriesPerRequest: null, autoResubscribe: false, lazyConnect: true });
    c.on('error', () => {});
    const setUp = async (): Promise<void> => {
      const id = String(await c.client('ID'));
      await c.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', id, 'BCAST', ...prefixes.flatMap((p) => ['PREFIX', p]));
      await c.subscribe(INVALIDATE);
    };
    c.on('message', (channel: string, payload: string) => {
      if (channel !== INVALIDATE) return;
      // A prefix also covers other keys (`rq:queue:high:intermediate`): only the queues wake the worker.
      // No key names (a FLUSHALL) means anything may have changed.
      const touched = payload === '' || payload.split(',').some((k) => keys.has(k));
      if (touched) this.bump();
    });
    try {
      await c.connect();
      await setUp();
    } catch (err) {
      c.disconnect();
      if (!(err instanceof Error && err.name === 'ReplyError')) return 'retry';
      w.logger.warning(`Redis refused to report writes to the queues (CLIENT TRACKING: ${err.message}); waiting with one blocking connection per queue instead`);
      return 'blocking';
    }
    // After a reconnect the old tracking is gone and writes may have been missed: set it up again and look.
    c.on('ready', () => {
      setUp()
        .catch((err: unknown) => w.logger.warning(`Could not watch the queues again after a reconnect: ${err instanceof Error ? err.message : String(err)}`))
        .finally(() => this.bump());
    });
    if (this.closed) c.disconnect();
    else this.tracking = c;
    // A job pushed before the tracking began was not reported: the dequeue looks once more.
    this.bump();
    return 'tracking';
  }

  private bump(): void {
    this.seq++;
    this.wake?.();
  }

  /**
   * The fallback: `BLMOVE q q RIGHT RIGHT` pops the tail and pushes it straight back, so it blocks while
   * the list is empty and never removes anything; a blocked connection serves one key.
   */
  private async blockOnEach(queues: readonly Queue[], timeoutSeconds: number): Promise<void> {
    for (const q of queues) {
      if (this.pending.has(q.name)) continue;
      let c = this.blocking.get(q.name);
      if (!c) {
        c = duplicateConnection(this.worker.connection, { maxRetriesPerRequest: null });
        // Errors surface as rejected waits; without a listener ioredis would print each reconnect failure.
        c.on('error', () => {});
        this.blocking.set(q.name, c);
      }
      const p = c
        .blmove(q.key, q.key, 'RIGHT', 'RIGHT', timeoutSeconds)
        .catch(() => null)
        .finally(() => this.pending.delete(q.name));
      this.pending.set(q.name, p);
    }
    await Promise.race(this.pending.values());
  }

  close(): void {
    this.closed = true;
    this.wake?.();
    this.tracking?.disconnect();
    this.tracking = null;
    for (const c of this.blocking.values()) c.disconnect();
    this.blocking.clear();
  }
}
