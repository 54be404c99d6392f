import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { DeserializationError } from './errors/DeserializationError.js';
import { InvalidJobIdError } from './errors/InvalidJobIdError.js';
import { InvalidOperationError } from './errors/InvalidOperationError.js';
import { JobFailedError } from './errors/JobFailedError.js';
import { NoSuchJobError } from './errors/NoSuchJobError.js';
import { ResultTimeoutError } from './errors/ResultTimeoutError.js';
import { RqError } from './errors/RqError.js';
import { SerializationError } from './errors/SerializationError.js';
import { callString } from './pyrepr.js';
import { duplicateConnection, keysOf } from './redis/connection.js';
import type { Keys } from './redis/keys.js';
import { multi } from './redis/scripts.js';
import { Result, ResultType } from './Result.js';
import { defaultSerializer, type Serializer } from './serializers.js';
import { epochSeconds, utcformat, utcparse } from './time.js';
import { zlibCompress, zlibDecompress } from './zlib.js';

/** Job status strings as rq stores them. `created` is rq 2.x's; 1.13 never writes it. */
export const JobStatus = {
  QUEUED: 'queued',
  STARTED: 'started',
  FINISHED: 'finished',
  FAILED: 'failed',
  DEFERRED: 'deferred',
  SCHEDULED: 'scheduled',
  STOPPED: 'stopped',
  CANCELED: 'canceled',
  CREATED: 'created',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];
const KNOWN_STATUSES = new Set<string>(Object.values(JobStatus));
/** Statuses after which no result of the current run will come. */
const ENDED_STATUSES = new Set<string>([JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED]);
/** How long one blocking read lasts before the job's status is looked at again (a job whose result is not kept never writes one). */
const WAIT_SLICE_MS = 1000;

export interface WaitForResultOptions {
  /** Seconds to wait at most (default: no limit); then ResultTimeoutError. */
  timeout?: number;
}

export const DEFAULT_TIMEOUT = 180;
export const DEFAULT_RESULT_TTL = 500;
export const DEFAULT_FAILURE_TTL = 31536000;

export type JobHash = Record<string, string | Buffer>;

export interface JobConnectionOptions {
  connection: Redis;
  serializer?: Serializer;
}

export interface Retry {
  max: number;
  /** Seconds before each retry; a list gives one interval per retry (the last one repeats). */
  interval?: number | readonly number[];
}

export interface CreateJobOptions extends JobConnectionOptions {
  /** Dotted path of the function: `tasks.send_newsletter`. */
  func: string;
  args?: readonly unknown[];
  kwargs?: Readonly<Record<string, unknown>>;
  id?: string;
  description?: string;
  /** Seconds (or rq's `'1h'`/`'23m'`/`'30s'`/`'2d'`); -1 = no limit. */
  timeout?: number | string | null;
  resultTtl?: number | null;
  failureTtl?: number | null;
  ttl?: number | null;
  meta?: Record<string, unknown>;
  origin?: string;
  status?: JobStatus;
  retry?: Retry | null;
  dependsOn?: readonly (string | Job)[];
  allowDependencyFailures?: boolean;
  onSuccess?: string | null;
  onFailure?: string | null;
}

interface DecodedData {
  funcName: string;
  instance: unknown;
  args: unknown[];
  kwargs: Record<string, unknown>;
}

/** Validates a job id as rq can store and parse it (ids end up in `id:execid` members in 2.x). */
export function validateJobId(id: unknown): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidJobIdError(`Job id must be a non-empty string, got ${JSON.stringify(id)}`);
  }
  if (id.includes(':')) {
    throw new InvalidJobIdError(`Job id ${JSON.stringify(id)} contains ':', which rq uses as a key separator; choose an id without ':'`);
  }
  if (/[\s\x00-\x1f]/.test(id)) {
    throw new InvalidJobIdError(`Job id ${JSON.stringify(id)} contains whitespace or control characters; choose a printable id`);
  }
  return id;
}

/** The longest timeout taken (the claim script treats anything longer in a hash as junk, like this parser). */
export const MAX_TIMEOUT = 1e9;

const TIMEOUT_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** rq's `parse_timeout`: an integer number of seconds, or a string like `30s`, `23m`, `1h`, `2d`. */
export function parseTimeout(value: number | string | null | undefined, what = 'timeout'): number | null {
  if (value === null || value === undefined || value === '') return null;
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else {
    const m = /^\s*(-?\d+)\s*([smhd]?)\s*$/i.exec(value);
    if (!m) {
      throw new RqError(`Invalid ${what} ${JSON.stringify(value)}: use whole seconds or a number followed by s, m, h or d (e.g. 90, '30s', '2h')`);
    }
    seconds = Number(m[1]) * (TIMEOUT_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
  }
  if (!Number.isInteger(seconds)) throw new RqError(`Invalid ${what} ${String(value)}: must be a whole number of seconds`);
  if (Math.abs(seconds) > MAX_TIMEOUT) throw new RqError(`Invalid ${what} ${String(value)}: more than ${MAX_TIMEOUT} seconds (about 31 years); use -1 for no limit`);
  return seconds;
}

function checkTtl(value: number | null | undefined, what: string, allowInfinite: boolean): number | null {
  if (value === null || value === undefined) return null;
  if (!Number.isInteger(value) || value < (allowInfinite ? -1 : 0)) {
    throw new RqError(`Invalid ${what} ${String(value)}: expected a whole number of seconds${allowInfinite ? ' >= 0, or -1 for no expiry' : ' >= 0'}`);
  }
  return value;
}

const str = (v: string | Buffer | undefined): string | undefined => (v === undefined ? undefined : v.toString());
/** A whole number from a hash field; junk, and magnitudes past MAX_TIMEOUT (EXPIRE refuses 1e20), read as absent. */
const optionalInt = (v: string | Buffer | undefined): number | null => {
  const s = str(v);
  if (s === undefined || s === '') return null;
  const n = Number(s);
  return Number.isFinite(n) && Math.abs(n) <= MAX_TIMEOUT ? Math.trunc(n) : null;
};

/**
 * A job: rq 1.13's `rq:job:<id>` hash (rq-wire-protocol.md §2). `data` is decoded lazily, so a job
 * whose data is corrupt can still be fetched, inspected and failed.
 */
export class Job {
  readonly id: string;
  readonly connection: Redis;
  serializer: Serializer;
  status: JobStatus | null = null;
  origin: string | null = null;
  description: string | null = null;
  createdAt: Date = new Date();
  enqueuedAt: Date | null = null;
  startedAt: Date | null = null;
  endedAt: Date | null = null;
  lastHeartbeat: Date | null = null;
  timeout: number | null = null;
  resultTtl: number | null = null;
  failureTtl: number | null = null;
  ttl: number | null = null;
  meta: Record<string, unknown> = {};
  workerName: string | null = null;
  retriesLeft: number | null = null;
  retryIntervals: number[] | null = null;
  /** rq 2.x's Repeat: runs still to come after a success (`repeats_left`), null when the job does not repeat. */
  repeatsLeft: number | null = null;
  /** rq 2.x's Repeat: seconds between runs (`repeat_intervals`); the last one is reused. */
  repeatIntervals: number[] | null = null;
  dependencyIds: string[] = [];
  allowDependencyFailures = false;
  enqueueAtFront = false;
  successCallbackName: string | null = null;
  failureCallbackName: string | null = null;

  private data: Buffer | null = null;
  private decoded: DecodedData | null = null;
  private hashExcInfo: string | null = null;
  private hashResult: Buffer | null = null;
  private loadedResult: Result | null = null;

  constructor(id: string, options: JobConnectionOptions) {
    // Only emptiness is refused here: ids read back from Redis (pushed there by anyone) must still
    // load so that the worker can fail them; create/fetch apply the full rule.
    if (typeof id !== 'string' || id.length === 0) throw new InvalidJobIdError(`Job id must be a non-empty string, got ${JSON.stringify(id)}`);
    this.id = id;
    this.connection = options.connection;
    this.serializer = options.serializer ?? defaultSerializer;
  }

  /** A new job (not saved): validates every option and encodes `data` right away. */
  static create<T extends Job>(this: new (id: string, options: JobConnectionOptions) => T, options: CreateJobOptions): T {
    if (typeof options.func !== 'string' || !/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(options.func)) {
      throw new RqError(
        `Invalid function path ${JSON.stringify(options.func)}: expected a dotted path like 'tasks.send_newsletter' (module path, then the exported name)`,
      );
    }
    const job = new this(options.id === undefined ? randomUUID() : validateJobId(options.id), options);
    job.setData(options.func, options.args ?? [], options.kwargs ?? {});
    job.description = options.description ?? callString(options.func, job.args, job.kwargs);
    const timeout = parseTimeout(options.timeout);
    if (timeout !== null && timeout !== -1 && timeout <= 0) {
      throw new RqError(`Invalid timeout ${String(options.timeout)}: must be a positive number of seconds, or -1 for no limit`);
    }
    job.timeout = timeout;
    job.resultTtl = checkTtl(options.resultTtl, 'result TTL', true);
    job.failureTtl = checkTtl(options.failureTtl, 'failure TTL', true);
    const ttl = checkTtl(options.ttl, 'TTL', true);
    job.ttl = ttl === -1 || ttl === 0 ? null : ttl;
    if (options.meta !== undefined) {
      if (typeof options.meta !== 'object' || options.meta === null || Array.isArray(options.meta)) {
        throw new RqError('Job meta must be a plain object');
      }
      job.serializer.dumps(options.meta);
      job.meta = { ...options.meta };
    }
    job.origin = options.origin ?? null;
    job.status = options.status ?? null;
    if (options.retry) {
      const { max, interval = 0 } = options.retry;
      const intervals = typeof interval === 'number' ? [interval] : [...interval];
      if (!Number.isInteger(max) || max < 1) throw new RqError(`Invalid retry max ${String(max)}: must be an integer >= 1`);
      if (intervals.length === 0 || intervals.some((i) => !Number.isInteger(i) || i < 0)) {
        throw new RqError(`Invalid retry interval ${JSON.stringify(interval)}: whole seconds >= 0, or a non-empty list of them`);
      }
      job.retriesLeft = max;
      job.retryIntervals = intervals;
    }
    job.dependencyIds = (options.dependsOn ?? []).map((d) => (typeof d === 'string' ? validateJobId(d) : d.id));
    job.allowDependencyFailures = options.allowDependencyFailures ?? false;
    job.successCallbackName = options.onSuccess ?? null;
    job.failureCallbackName = options.onFailure ?? null;
    return job;
  }

  /** A job from the fields of its hash (as HGETALL returns them). */
  static fromHash<T extends Job>(
    this: new (id: string, options: JobConnectionOptions) => T,
    id: string,
    hash: JobHash,
    options: JobConnectionOptions,
  ): T {
    const job = new this(id, options);
    job.restore(hash);
    return job;
  }

  /** Loads a job by id. Throws NoSuchJobError if the hash is gone or is not a job. */
  static async fetch<T extends Job>(
    this: (new (id: string, options: JobConnectionOptions) => T) & typeof Job,
    id: string,
    options: JobConnectionOptions,
  ): Promise<T> {
    const job = new this(validateJobId(id), options) as T;
    await job.refresh();
    return job;
  }

  /** Loads several jobs in one round trip; a missing job is null at its place. */
  static async fetchMany<T extends Job>(
    this: (new (id: string, options: JobConnectionOptions) => T) & typeof Job,
    ids: readonly string[],
    options: JobConnectionOptions,
  ): Promise<(T | null)[]> {
    if (ids.length === 0) return [];
    const jobs = ids.map((id) => new this(validateJobId(id), options) as T);
    const keys = keysOf(options.connection);
    const pipe = options.connection.pipeline();
    for (const job of jobs) {
      pipe.hgetallBuffer(keys.job(job.id));
      pipe.xrevrangeBuffer(keys.results(job.id), '+', '-', 'COUNT', 1);
    }
    const replies = (await pipe.exec()) ?? [];
    return jobs.map((job, i) => {
      const [hashErr, hash] = replies[2 * i] ?? [];
      const [, stream] = replies[2 * i + 1] ?? [];
      if (hashErr) throw hashErr;
      const fields = hash as Record<string, Buffer> | null;
      if (!fields || !('data' in fields)) return null;
      job.restore(fields);
      job.loadedResult = job.firstResult(stream);
      return job;
    });
  }

  get keys(): Keys {
    return keysOf(this.connection);
  }
  get key(): string {
    return this.keys.job(this.id);
  }
  get dependentsKey(): string {
    return this.keys.dependents(this.id);
  }
  get dependenciesKey(): string {
    return this.keys.dependencies(this.id);
  }

  private decode(): DecodedData {
    if (this.decoded) return this.decoded;
    if (!this.data) throw new DeserializationError(`Job ${this.id} has no data`);
    let raw: Buffer;
    try {
      raw = zlibDecompress(this.data);
    } catch {
      // rq falls back to the raw bytes when data is not zlib-compressed.
      raw = this.data;
    }
    let value: unknown;
    try {
      value = this.serializer.loads(raw);
    } catch (cause) {
      throw new DeserializationError(`Job ${this.id} has data that cannot be decoded (neither zlib-compressed nor plain JSON)`, { cause });
    }
    if (
      !Array.isArray(value) ||
      value.length !== 4 ||
      typeof value[0] !== 'string' ||
      !Array.isArray(value[2]) ||
      typeof value[3] !== 'object' ||
      value[3] === null ||
      Array.isArray(value[3])
    ) {
      throw new DeserializationError(
        `Job ${this.id} has data of the wrong shape: expected [func_name, instance, args, kwargs], got ${JSON.stringify(value)?.slice(0, 120)}`,
      );
    }
    this.decoded = { funcName: value[0], instance: value[1], args: value[2] as unknown[], kwargs: value[3] as Record<string, unknown> };
    return this.decoded;
  }

  get funcName(): string {
    return this.decode().funcName;
  }
  get args(): unknown[] {
    return this.decode().args;
  }
  get kwargs(): Record<string, unknown> {
    return this.decode().kwargs;
  }
  /** The raw (compressed) `data` field. */
  get rawData(): Buffer | null {
    return this.data;
  }

  /** Sets the call this job makes; throws SerializationError for arguments JSON cannot carry. */
  setData(funcName: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): void {
    let encoded: Buffer;
    try {
      encoded = this.serializer.dumps([funcName, null, args, kwargs]);
    } catch (err) {
      if (!(err instanceof SerializationError)) throw err;
      // Name the argument as the caller knows it, not by its place in rq's data tuple.
      throw new SerializationError(err.message.replace(/^value\[2\]/, 'args').replace(/^value\[3\]/, 'kwargs'), { cause: err });
    }
    this.data = zlibCompress(encoded);
    this.decoded = { funcName, instance: null, args: [...args], kwargs: { ...kwargs } };
  }

  private restore(hash: JobHash): void {
    if (!('data' in hash)) {
      throw new NoSuchJobError(`Unexpected job format: hash ${this.key} has no "data" field`);
    }
    const data = hash.data!;
    this.data = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.decoded = null;
    const status = str(hash.status);
    this.status = status ? (status as JobStatus) : null;
    this.origin = str(hash.origin) ?? null;
    this.description = str(hash.description) ?? null;
    this.createdAt = utcparse(str(hash.created_at)) ?? new Date(0);
    this.enqueuedAt = utcparse(str(hash.enqueued_at));
    this.startedAt = utcparse(str(hash.started_at));
    this.endedAt = utcparse(str(hash.ended_at));
    this.lastHeartbeat = utcparse(str(hash.last_heartbeat));
    const timeout = str(hash.timeout);
    try {
      this.timeout = parseTimeout(timeout);
    } catch {
      this.timeout = null;
    }
    this.resultTtl = optionalInt(hash.result_ttl);
    this.failureTtl = optionalInt(hash.failure_ttl);
    this.ttl = optionalInt(hash.ttl);
    this.workerName = str(hash.worker_name) || null;
    this.retriesLeft = optionalInt(hash.retries_left);
    this.retryIntervals = this.parseJsonList(hash.retry_intervals) as number[] | null;
    this.repeatsLeft = optionalInt(hash.repeats_left);
    this.repeatIntervals = this.parseJsonList(hash.repeat_intervals) as number[] | null;
    const depIds = this.parseJsonList(hash.dependency_ids) as string[] | null;
    const depId = str(hash.dependency_id);
    this.dependencyIds = depIds ?? (depId ? [depId] : []);
    this.allowDependencyFailures = str(hash.allow_dependency_failures) === '1';
    this.enqueueAtFront = str(hash.enqueue_at_front) === '1';
    this.successCallbackName = str(hash.success_callback_name) || null;
    this.failureCallbackName = str(hash.failure_callback_name) || null;
    const meta = hash.meta;
    this.meta = {};
    if (meta !== undefined && meta.length > 0) {
      try {
        const decoded = this.serializer.loads(typeof meta === 'string' ? Buffer.from(meta) : meta);
        if (decoded && typeof decoded === 'object' && !Array.isArray(decoded)) this.meta = decoded as Record<string, unknown>;
      } catch {
        // Meta written by another serializer (pickle) is unreadable here; the job still runs without it.
      }
    }
    const exc = hash.exc_info;
    this.hashExcInfo = null;
    if (exc !== undefined && exc.length > 0) {
      const buf = typeof exc === 'string' ? Buffer.from(exc, 'latin1') : exc;
      try {
        this.hashExcInfo = zlibDecompress(buf).toString('utf8');
      } catch {
        this.hashExcInfo = buf.toString('utf8');
      }
    }
    const result = hash.result;
    this.hashResult = result === undefined ? null : typeof result === 'string' ? Buffer.from(result) : result;
  }

  private parseJsonList(v: string | Buffer | undefined): unknown[] | null {
    const s = str(v);
    if (!s) return null;
    try {
      const parsed: unknown = JSON.parse(s);
      return Array.isArray(parsed) ? parsed : null;
    } catch {
      return null;
    }
  }

  private firstResult(stream: unknown): Result | null {
    const entries = stream as [Buffer, Buffer[]][] | null;
    const entry = entries?.[0];
    if (!entry) return null;
    try {
      return Result.fromStreamEntry(this.id, entry[0].toString(), entry[1], this.serializer);
    } catch {
      return null;
    }
  }

  /** rq 1.13's `Job.to_dict()`: the whole mapping as one HSET writes it. */
  toHash(): Record<string, string | Buffer> {
    const h: Record<string, string | Buffer> = {
      created_at: utcformat(this.createdAt),
      data: this.data ?? Buffer.alloc(0),
      success_callback_name: this.successCallbackName ?? '',
      failure_callback_name: this.failureCallbackName ?? '',
      started_at: this.startedAt ? utcformat(this.startedAt) : '',
      ended_at: this.endedAt ? utcformat(this.endedAt) : '',
      last_heartbeat: this.lastHeartbeat ? utcformat(this.lastHeartbeat) : '',
      worker_name: this.workerName ?? '',
    };
    if (this.origin !== null) h.origin = this.origin;
    if (this.description !== null) h.description = this.description;
    if (this.enqueuedAt) h.enqueued_at = utcformat(this.enqueuedAt);
    if (this.status !== null) h.status = this.status;
    if (this.timeout !== null) h.timeout = String(this.timeout);
    if (this.resultTtl !== null) h.result_ttl = String(this.resultTtl);
    if (this.failureTtl !== null) h.failure_ttl = String(this.failureTtl);
    if (this.ttl) h.ttl = String(this.ttl);
    if (this.retriesLeft !== null) h.retries_left = String(this.retriesLeft);
    if (this.retryIntervals !== null) h.retry_intervals = `[${this.retryIntervals.join(', ')}]`;
    if (this.repeatsLeft !== null) h.repeats_left = String(this.repeatsLeft);
    if (this.repeatIntervals !== null) h.repeat_intervals = `[${this.repeatIntervals.join(', ')}]`;
    if (this.dependencyIds.length > 0) {
      h.dependency_id = this.dependencyIds[0]!;
      h.dependency_ids = `[${this.dependencyIds.map((d) => JSON.stringify(d)).join(', ')}]`;
    }
    if (this.allowDependencyFailures) h.allow_dependency_failures = '1';
    if (this.enqueueAtFront) h.enqueue_at_front = '1';
    if (Object.keys(this.meta).length > 0) h.meta = this.serializer.dumps(this.meta);
    if (this.hashExcInfo !== null) h.exc_info = zlibCompress(Buffer.from(this.hashExcInfo, 'utf8'));
    return h;
  }

  /** Reloads every field from Redis. Throws NoSuchJobError if the job is gone. */
  async refresh(): Promise<void> {
    const [[hashErr, hash] = [], [, stream] = []] =
      (await this.connection.pipeline().hgetallBuffer(this.key).xrevrangeBuffer(this.keys.results(this.id), '+', '-', 'COUNT', 1).exec()) ??
      [];
    if (hashErr) throw hashErr;
    const fields = hash as Record<string, Buffer> | null;
    if (!fields || Object.keys(fields).length === 0) throw new NoSuchJobError(`No such job: ${this.id} (${this.key} does not exist)`);
    this.restore(fields);
    this.loadedResult = this.firstResult(stream);
  }

  /** Writes the whole hash. */
  async save(pipeline?: ChainableCommander): Promise<void> {
    const target = pipeline ?? this.connection;
    const p = target.hset(this.key, this.toHash());
    if (!pipeline) await p;
  }

  /** The status as stored now (`refresh: false` returns what was last loaded). */
  async getStatus(refresh = true): Promise<JobStatus | null> {
    if (refresh) {
      const s = await this.connection.hget(this.key, 'status');
      this.status = s ? (s as JobStatus) : null;
    }
    return this.status;
  }

  async setStatus(status: JobStatus, pipeline?: ChainableCommander): Promise<void> {
    this.status = status;
    const p = (pipeline ?? this.connection).hset(this.key, 'status', status);
    if (!pipeline) await p;
  }

  get isKnownStatus(): boolean {
    return this.status === null || KNOWN_STATUSES.has(this.status);
  }

  /** Writes `meta` only (a job may update its own meta while it runs). */
  async saveMeta(): Promise<void> {
    await this.connection.hset(this.key, 'meta', this.serializer.dumps(this.meta));
  }

  /** Deletes the job: its hash, results, registry and queue entries, and optionally its dependents. */
  async delete(options: { removeFromQueue?: boolean; deleteDependents?: boolean } = {}): Promise<void> {
    const { removeFromQueue = true, deleteDependents = false } = options;
    const keys = this.keys;
    const dependentIds = deleteDependents ? await this.connection.smembers(this.dependentsKey) : [];
    const dependents = await (this.constructor as typeof Job).fetchMany(dependentIds, { connection: this.connection, serializer: this.serializer });
    const tx = multi(this.connection);
    this.removeFromRegistries(tx, removeFromQueue);
    dependentIds.forEach((dep, i) => {
      dependents[i]?.removeFromRegistries(tx, false);
      tx.del(keys.job(dep), keys.dependents(dep), keys.dependencies(dep), keys.results(dep));
    });
    tx.del(this.key, this.dependentsKey, this.dependenciesKey, keys.results(this.id));
    await tx.exec();
  }

  private removeFromRegistries(tx: ChainableCommander, removeFromQueue: boolean): void {
    if (!this.origin) return;
    const keys = this.keys;
    const q = this.origin;
    if (removeFromQueue) tx.lrem(keys.queue(q), 0, this.id);
    for (const registry of [keys.started(q), keys.finished(q), keys.failed(q), keys.deferred(q), keys.scheduled(q), keys.canceled(q)]) {
      tx.zrem(registry, this.id);
    }
  }

  /** Cancels the job: status `canceled`, out of its queue and registries, into the CanceledJobRegistry. */
  async cancel(): Promise<void> {
    const status = await this.getStatus();
    if (status === null && !(await this.connection.exists(this.key))) {
      throw new NoSuchJobError(`No such job: ${this.id}`);
    }
    if (status === JobStatus.CANCELED) {
      throw new InvalidOperationError(`Cannot cancel already canceled job: ${this.id}`);
    }
    if (!this.origin) await this.refresh();
    const tx = multi(this.connection);
    tx.hset(this.key, 'status', JobStatus.CANCELED);
    this.removeFromRegistries(tx, true);
    if (this.origin) tx.zadd(this.keys.canceled(this.origin), epochSeconds(), this.id);
    await tx.exec();
    this.status = JobStatus.CANCELED;
  }

  /** The newest entry of the job's results stream, or null. */
  async latestResult(): Promise<Result | null> {
    const entries = await this.connection.xrevrangeBuffer(this.keys.results(this.id), '+', '-', 'COUNT', 1);
    this.loadedResult = this.firstResult(entries);
    return this.loadedResult;
  }

  /** All results, newest first. */
  async results(): Promise<Result[]> {
    const entries = (await this.connection.xrevrangeBuffer(this.keys.results(this.id), '+', '-')) as unknown as [Buffer, Buffer[]][];
    return entries.map(([id, fields]) => Result.fromStreamEntry(this.id, id.toString(), fields, this.serializer));
  }

  /** The return value of the latest successful run (from the results stream, else the legacy `result` field). */
  async returnValue(): Promise<unknown> {
    const latest = await this.latestResult();
    if (latest) return latest.isSuccessful ? latest.returnValue : null;
    if (!this.hashResult) {
      const raw = await this.connection.hgetBuffer(this.key, 'result');
      this.hashResult = raw;
    }
    if (!this.hashResult || this.hashResult.length === 0) return null;
    return this.serializer.loads(this.hashResult);
  }

  /**
   * Waits for this run's outcome: resolves with the return value, rejects with JobFailedError (its
   * `excString` is the job's traceback) when the job fails or is stopped or canceled, and with
   * ResultTimeoutError after `timeout` seconds. A job that has already ended settles at once.
   *
   * It reads the result stream rq writes (`rq:results:<id>`) with XREAD BLOCK on a connection of its
   * own (closed when it settles), so a job run by python-rq settles it too. Every second without an
   * entry the job's status is read again: a job whose result is not kept (result_ttl 0, or a failure
   * with the default exception handler off) writes no entry, and a deleted job rejects with NoSuchJobError.
   */
  async waitForResult(options: WaitForResultOptions = {}): Promise<unknown> {
    const { timeout } = options;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0))) {
      throw new RqError(`waitForResult: timeout ${String(timeout)} is not valid; give seconds > 0, or leave it out to wait without a limit`);
    }
    const deadline = timeout === undefined ? Infinity : Date.now() + timeout * 1000;
    const resultsKey = this.keys.results(this.id);
    let reader: Redis | null = null;
    try {
      let cursor = '0';
      for (let first = true; ; first = false) {
        const [[, status] = [], [, newest] = [], [, exists] = []] =
          (await this.connection.multi().hget(this.key, 'status').xrevrangeBuffer(resultsKey, '+', '-', 'COUNT', 1).exists(this.key).exec()) ?? [];
        if (!exists) throw new NoSuchJobError(`No such job: ${this.id} (${this.key} is gone: deleted, or expired with its result_ttl)`);
        const entry = this.firstResult(newest);
        const ended = ENDED_STATUSES.has(String(status));
        // At the first look an entry counts only if the job has ended (else it is an earlier run's);
        // later, any entry newer than what the blocking read saw is this run's.
        if (entry && entry.type !== ResultType.RETRIED && (first ? ended : entry.id !== cursor)) return this.settle(entry);
        if (ended) return await this.settleWithoutEntry(String(status));
        if (first && entry) cursor = entry.id;
        const remaining = deadline - Date.now();
        if (remaining <= 0) {
          throw new ResultTimeoutError(
            `No result for job ${this.id} within ${timeout} s (status: ${String(status ?? 'unknown')}); is a worker listening on queue '${this.origin ?? '?'}'?`,
          );
        }
        if (!reader) {
          reader = duplicateConnection(this.connection);
          // Its failures reach the caller through the read that fails.
          reader.on('error', () => {});
        }
        const reply = await reader.xreadBuffer('BLOCK', Math.max(1, Math.min(WAIT_SLICE_MS, remaining)), 'STREAMS', resultsKey, cursor);
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          const result = Result.fromStreamEntry(this.id, id.toString(), fields, this.serializer);
          cursor = result.id;
          if (result.type !== ResultType.RETRIED) return this.settle(result);
        }
      }
    } finally {
      reader?.disconnect();
    }
  }

  private settle(result: Result): unknown {
    this.loadedResult = result;
    if (result.isSuccessful) return result.returnValue;
    const status = result.type === ResultType.STOPPED ? JobStatus.STOPPED : JobStatus.FAILED;
    throw new JobFailedError(this.id, status, result.excString);
  }

  /** The run ended without a result entry: a success whose result is not kept, or a failure recorded only in the hash. */
  private async settleWithoutEntry(status: string): Promise<unknown> {
    if (status === JobStatus.FINISHED) return null;
    const exc = await this.connection.hgetBuffer(this.key, 'exc_info');
    let text: string | null = null;
    if (exc && exc.length > 0) {
      try {
        text = zlibDecompress(exc).toString('utf8');
      } catch {
        text = exc.toString('utf8');
      }
    }
    throw new JobFailedError(this.id, status, text);
  }

  /**
   * Records the progress of a running job in `meta.progress` (saved with rq's meta field, so
   * python-rq reads it as `job.meta['progress']`); QueueEvents reports it as a `progress` event.
   * Call it from the job function on the job of `getCurrentJob()`.
   */
  async updateProgress(progress: unknown): Promise<void> {
    const meta = { ...this.meta, progress };
    // Checked before anything changes: a value the serializer cannot carry leaves meta as it was.
    const encoded = this.serializer.dumps(meta);
    await this.connection.hset(this.key, 'meta', encoded);
    this.meta = meta;
  }

  /**
   * The traceback of the latest failure, as loaded by fetch/refresh/latestResult: from the results
   * stream, else the hash's `exc_info` (which rq's registry cleanup writes).
   */
  get excInfo(): string | null {
    if (this.loadedResult && !this.loadedResult.isSuccessful && this.loadedResult.excString !== null) {
      return this.loadedResult.excString;
    }
    return this.hashExcInfo;
  }

  set excInfo(value: string | null) {
    this.hashExcInfo = value;
  }

  /** rq's `get_call_string()`: `tasks.add(1, 2)`. */
  get callString(): string {
    return callString(this.funcName, this.args, this.kwargs);
  }
}
