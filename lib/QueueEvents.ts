import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import { RqError } from './errors/RqError.js';
import type { Queue } from './Queue.js';
import { duplicateConnection } from './redis/connection.js';
import { Result, ResultType } from './Result.js';
import { zlibDecompress } from './zlib.js';

export interface CompletedEvent {
  jobId: string;
  returnValue: unknown;
}
export interface FailedEvent {
  jobId: string;
  /** The traceback rq stored (result stream, else the hash's exc_info); null when none was kept. */
  excString: string | null;
}
export interface ProgressEvent {
  jobId: string;
  /** The job's `meta.progress`, as `job.updateProgress()` (or Python's `job.meta['progress']`) set it. */
  progress: unknown;
}

export interface QueueEventMap {
  completed: [CompletedEvent];
  failed: [FailedEvent];
  progress: [ProgressEvent];
  error: [Error];
}

export interface QueueEventsOptions {
  /** Milliseconds between two looks at the registries (default 250). */
  interval?: number;
}

const DEFAULT_INTERVAL_MS = 250;

type StreamReply = [Buffer, [Buffer, Buffer[]][]][] | null;

/**
 * A producer's view of a queue's jobs ending and progressing, for jobs run by any worker: rq-ts's
 * or python-rq's. Python workers publish no events, so this reads what every rq worker writes anyway,
 * on a connection of its own and without keyspace notifications:
 *
 * - each `interval` it reads the queue's StartedJobRegistry, FinishedJobRegistry and FailedJobRegistry;
 *   a job new in the finished or failed registry is reported (`completed`/`failed`) with its latest
 *   result, a running job whose `meta.progress` changed is reported as `progress`;
 * - between those looks it blocks in one XREAD on the result streams of the jobs seen running, so
 *   the end of such a job is reported as soon as its worker writes the result.
 *
 * Latency: a job seen running ends within milliseconds of its result; a job that starts and ends
 * between two looks, up to `interval`; progress, up to `interval`. Cost per look: the three
 * registries are read whole (ZRANGE), so it grows with the jobs kept in them (result_ttl, failure_ttl).
 * Events start from the first look (`ready`); what ended before is not replayed.
 */
export class QueueEvents extends EventEmitter<QueueEventMap> {
  readonly queue: Queue;
  readonly interval: number;
  /** Resolves once the first look has been taken: events after it are reported. */
  readonly ready: Promise<void>;

  private readonly connection: Redis;
  private readonly seenFinished = new Set<string>();
  private readonly seenFailed = new Set<string>();
  /** Running job id -> the last result entry id seen on its stream. */
  private readonly cursors = new Map<string, string>();
  /** Running job id -> its last reported progress (serialized). */
  private readonly progress = new Map<string, string>();
  private closed = false;
  private readonly loop: Promise<void>;
  private wake: (() => void) | null = null;
  private readonly warned = new Set<string>();

  constructor(queue: Queue, options: QueueEventsOptions = {}) {
    super();
    const interval = options.interval ?? DEFAULT_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval < 10) {
      throw new RqError(`QueueEvents: interval ${String(interval)} is not valid; give milliseconds >= 10`);
    }
    this.queue = queue;
    this.interval = interval;
    this.connection = duplicateConnection(queue.connection);
    // Failures reach listeners through the look that fails (see report()).
    this.connection.on('error', () => {});
    let markReady!: () => void;
    let failReady!: (err: unknown) => void;
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    this.loop = this.run(markReady, failReady);
  }

  /** Stops watching and closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    this.connection.disconnect();
    await this.loop;
  }

  private async run(markReady: () => void, failReady: (err: unknown) => void): Promise<void> {
    try {
      await this.look(true);
      markReady();
    } catch (err) {
      failReady(err);
      this.connection.disconnect();
      return;
    }
    while (!this.closed) {
      try {
        await this.readResults();
        if (!this.closed) await this.look(false);
      } catch (err) {
        if (this.closed) return;
        this.report(err);
        await this.pause();
      }
    }
  }

  /** One look at the registries; the first one only takes note of what is there. */
  private async look(baseline: boolean): Promise<void> {
    const keys = this.queue.keys;
    const q = this.queue.name;
    const replies = (await this.connection
      .pipeline()
      .zrange(keys.started(q), '0', '-1')
      .zrange(keys.finished(q), '0', '-1')
      .zrange(keys.failed(q), '0', '-1')
      .exec()) ?? [];
    const lists = replies.map(([err, value]) => {
      if (err) throw err;
      return value as string[];
    });
    // rq 2.x keeps `<id>:<execution id>` in the StartedJobRegistry; job ids never hold ':'.
    const running = new Set(lists[0]!.map((m) => m.split(':')[0]!));
    await this.ended(lists[1]!, this.seenFinished, 'completed', baseline);
    await this.ended(lists[2]!, this.seenFailed, 'failed', baseline);
    await this.watchRunning(running);
  }

  /** Reports the members of a registry not seen before, and forgets those that left it. */
  private async ended(members: string[], seen: Set<string>, event: 'completed' | 'failed', baseline: boolean): Promise<void> {
    const now = new Set(members);
    for (const id of seen) if (!now.has(id)) seen.delete(id);
    const fresh = members.filter((id) => !seen.has(id));
    for (const id of fresh) seen.add(id);
    if (baseline || fresh.length === 0) return;
    const pipe = this.connection.pipeline();
    for (const id of fresh) {
      pipe.xrevrangeBuffer(this.queue.keys.results(id), '+', '-', 'COUNT', 1);
      pipe.hgetBuffer(this.queue.keys.job(id), 'exc_info');
    }
    const replies = (await pipe.exec()) ?? [];
    fresh.forEach((id, i) => {
      const entry = (replies[2 * i]?.[1] as [Buffer, Buffer[]][] | null)?.[0];
      const result = entry ? this.decode(id, entry) : null;
      this.cursors.delete(id);
      this.progress.delete(id);
      if (event === 'completed') this.emit('completed', { jobId: id, returnValue: result?.isSuccessful ? result.returnValue : null });
      else this.emit('failed', { jobId: id, excString: result?.excString ?? this.excInfo(replies[2 * i + 1]?.[1]) });
    });
  }

  /** Starts following the result streams of newly running jobs, and reports changed progress. */
  private async watchRunning(running: Set<string>): Promise<void> {
    for (const id of this.cursors.keys()) if (!running.has(id)) this.cursors.delete(id);
    for (const id of this.progress.keys()) if (!running.has(id)) this.progress.delete(id);
    const ids = [...running];
    if (ids.length === 0) return;
    const keys = this.queue.keys;
    const pipe = this.connection.pipeline();
    for (const id of ids) {
      pipe.hgetBuffer(keys.job(id), 'meta');
      if (!this.cursors.has(id)) pipe.xrevrangeBuffer(keys.results(id), '+', '-', 'COUNT', 1);
    }
    const replies = (await pipe.exec()) ?? [];
    let i = 0;
    for (const id of ids) {
      const meta = replies[i++]?.[1] as Buffer | null;
      if (!this.cursors.has(id)) {
        const entry = (replies[i++]?.[1] as [Buffer, Buffer[]][] | null)?.[0];
        this.cursors.set(id, entry ? entry[0].toString() : '0-0');
      }
      const progress = this.progressOf(meta);
      if (progress === undefined) continue;
      const text = JSON.stringify(progress);
      if (this.progress.get(id) === text) continue;
      this.progress.set(id, text);
      this.emit('progress', { jobId: id, progress });
    }
  }

  /** Blocks up to `interval` on the result streams of the running jobs; reports each that ends. */
  private async readResults(): Promise<void> {
    if (this.cursors.size === 0) return this.pause();
    const ids = [...this.cursors.keys()];
    const reply = (await this.connection.xreadBuffer(
      'BLOCK',
      this.interval,
      'STREAMS',
      ...ids.map((id) => this.queue.keys.results(id)),
      ...ids.map((id) => this.cursors.get(id)!),
    )) as StreamReply;
    for (const [key, entries] of reply ?? []) {
      const id = ids.find((j) => this.queue.keys.results(j) === key.toString());
      if (id === undefined) continue;
      for (const entry of entries) {
        this.cursors.set(id, entry[0].toString());
        const result = this.decode(id, entry);
        if (!result || result.type === ResultType.RETRIED) continue;
        this.cursors.delete(id);
        this.progress.delete(id);
        // Marked seen so that the next look at the registry does not report it again.
        if (result.isSuccessful) {
          this.seenFinished.add(id);
          this.emit('completed', { jobId: id, returnValue: result.returnValue });
        } else {
          this.seenFailed.add(id);
          this.emit('failed', { jobId: id, excString: result.excString });
        }
        break;
      }
    }
  }

  private decode(id: string, entry: [Buffer, Buffer[]]): Result | null {
    try {
      return Result.fromStreamEntry(id, entry[0].toString(), entry[1], this.queue.serializer);
    } catch (err) {
      this.report(new RqError(`QueueEvents: the result of job ${id} cannot be decoded: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      return null;
    }
  }

  private progressOf(meta: Buffer | null | undefined): unknown {
    if (!meta || meta.length === 0) return undefined;
    try {
      const decoded = this.queue.serializer.loads(meta) as Record<string, unknown> | null;
      return decoded && typeof decoded === 'object' && 'progress' in decoded ? decoded.progress : undefined;
    } catch {
      // Meta written with pickle (a Python producer's default serializer) is unreadable here.
      return undefined;
    }
  }

  private excInfo(raw: unknown): string | null {
    if (!(raw instanceof Buffer) || raw.length === 0) return null;
    try {
      return zlibDecompress(raw).toString('utf8');
    } catch {
      return raw.toString('utf8');
    }
  }

  /** To 'error' listeners; without one, a warning per distinct message (an EventEmitter would throw). */
  private report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    if (this.listenerCount('error') > 0) {
      this.emit('error', error);
    } else if (!this.warned.has(error.message)) {
      this.warned.add(error.message);
      process.emitWarning(`QueueEvents on '${this.queue.name}': ${error.message}; retrying every ${this.interval} ms`, 'RqWarning');
    }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, this.interval);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}
