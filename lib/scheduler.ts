import type { Redis } from 'ioredis';
import { keysOf } from './redis/connection.js';
import { runScript } from './redis/scripts.js';
import { epochSeconds, redisEpochSeconds, utcformat } from './time.js';

/** rq's scheduler lock TTL and how often a scheduler retries the queues whose lock it lacks. */
export const SCHEDULER_LOCK_TTL = 61;
export const SCHEDULER_FALLBACK_PERIOD = 120;

/**
 * Moves the jobs of `queue` whose scheduled time has come (at most 1000 per call, as rq) from the
 * ScheduledJobRegistry to the queue. Safe to run from several schedulers at once: each job moves once.
 * `now` defaults to Redis's clock (as the other registry sweeps: a scheduler whose own clock runs
 * ahead must not enqueue jobs early; retries with intervals are scored by that clock too).
 */
export async function enqueueScheduledJobs(connection: Redis, queue: string, now?: Date): Promise<number> {
  const keys = keysOf(connection);
  const due = now ? epochSeconds(now) : await redisEpochSeconds(connection);
  const ids = await connection.zrangebyscore(keys.scheduled(queue), 0, due, 'LIMIT', 0, 1000);
  if (ids.length === 0) return 0;
  return runScript(
    connection,
    'rqEnqueueScheduled',
    { scheduled: keys.scheduled(queue), queue: keys.queue(queue), queues: keys.queues, jobs: ids.map((id) => keys.job(id)) },
    { queueMember: keys.queue(queue), enqueuedAt: utcformat(now ?? new Date()), ids },
  );
}

/**
 * rq's scheduler: for each queue, the lock `rq:scheduler-lock:<q>` (SET NX EX 61, value = pid, the
 * same lock Python's schedulers take, so one scheduler per queue runs across a mixed fleet); every
 * second the locked queues' due jobs are enqueued and the locks extended; queues whose lock is held
 * elsewhere are retried every 120 s.
 */
export class Scheduler {
  private readonly locked = new Set<string>();
  private lastAcquire = 0;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly connection: Redis,
    readonly queues: readonly string[],
    private readonly onError: (err: unknown) => void = () => {},
    private readonly lockValue = String(process.pid),
  ) {}

  /** Queues whose lock this scheduler holds. */
  get lockedQueues(): string[] {
    return [...this.locked];
  }

  async acquireLocks(): Promise<void> {
    const keys = keysOf(this.connection);
    this.lastAcquire = Date.now();
    for (const q of this.queues) {
      if (this.locked.has(q)) continue;
      const ok = await this.connection.set(keys.schedulerLock(q), this.lockValue, 'EX', SCHEDULER_LOCK_TTL, 'NX');
      if (ok === 'OK') this.locked.add(q);
    }
  }

  /** One cycle: (re)acquire missing locks when due, move due jobs, extend the locks. */
  async runOnce(): Promise<number> {
    if (Date.now() - this.lastAcquire >= SCHEDULER_FALLBACK_PERIOD * 1000 || this.lastAcquire === 0) await this.acquireLocks();
    const keys = keysOf(this.connection);
    let moved = 0;
    for (const q of this.locked) {
      moved += await enqueueScheduledJobs(this.connection, q);
      await this.connection.expire(keys.schedulerLock(q), SCHEDULER_LOCK_TTL);
    }
    return moved;
  }

  /** Runs a cycle every `intervalMs` until stop(). */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.runOnce()
        .then(() => undefined, this.onError)
        .finally(() => (this.running = null));
    }, intervalMs);
  }

  /** Stops the cycles and releases the locks this scheduler holds. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
    const keys = keysOf(this.connection);
    for (const q of this.locked) {
      const key = keys.schedulerLock(q);
      if ((await this.connection.get(key)) === this.lockValue) await this.connection.del(key);
    }
    this.locked.clear();
  }
}
