import type { Redis } from 'ioredis';
import { CrossSlotError } from './errors/CrossSlotError.js';
import { InvalidOperationError } from './errors/InvalidOperationError.js';
import { NoSuchJobError } from './errors/NoSuchJobError.js';
import { RedisConnectionError } from './errors/RedisConnectionError.js';
import { RqError } from './errors/RqError.js';
import { DEFAULT_TIMEOUT, Job, JobStatus, parseTimeout, type CreateJobOptions, type Retry } from './Job.js';
import { QueueEvents, type QueueEventsOptions } from './QueueEvents.js';
import type { Logger } from './logging.js';
import { keysOf } from './redis/connection.js';
import type { Keys } from './redis/keys.js';
import { pipeline, queueScript, runScript, type ScriptArgs, type ScriptCall, type ScriptKeys } from './redis/scripts.js';
import { defaultSerializer, type Serializer } from './serializers.js';
import { SCHEDULER_LOCK_TTL } from './scheduler.js';
import { epochSeconds } from './time.js';

export type JobClass = typeof Job;

export interface QueueOptions {
  connection: Redis;
  jobClass?: JobClass;
  serializer?: Serializer;
  /** Timeout of jobs enqueued without one, in seconds (rq's default 180). */
  defaultTimeout?: number | string;
  /** Where the queue's warnings go (a job that waits for a scheduler nobody runs); default process.emitWarning. */
  logger?: Pick<Logger, 'warning'>;
}

/** What `enqueueCall` and `enqueueMany` take: the call and rq's job options. */
export interface EnqueueCallOptions {
  func: string;
  args?: readonly unknown[];
  kwargs?: Readonly<Record<string, unknown>>;
  timeout?: number | string | null;
  resultTtl?: number | null;
  ttl?: number | null;
  failureTtl?: number | null;
  description?: string;
  jobId?: string;
  atFront?: boolean;
  meta?: Record<string, unknown>;
  retry?: Retry | null;
  /** Jobs (or ids) that must finish first; the job waits in the DeferredJobRegistry until then. */
  dependsOn?: string | Job | readonly (string | Job)[];
  /** Run after the dependencies end even if some failed (rq's `Dependency(allow_failure=True)`). */
  allowDependencyFailures?: boolean;
  /** Dotted path of a function called as `(job, connection, result)` in the horse after success. */
  onSuccess?: string | null;
  /** Dotted path of a function called as `(job, connection, error)` in the horse after a failure. */
  onFailure?: string | null;
}

// Python accepts any name; so must we when reading queues that Python workers created.
const QUEUE_NAME = /^[^\x00-\x1f]+$/;
/** Jobs per script call in enqueueMany: big enough to amortize the call, small enough not to block Redis for long. */
const ENQUEUE_CHUNK = 500;

const atFront = new WeakMap<Job, boolean>();

/** Queues (per connection) already warned that no scheduler runs for them: the warning is said once. */
const warnedNoScheduler = new WeakMap<Redis, Set<string>>();
/** Queues (per connection) whose scheduler lock was seen, and when: looked at again only after the lock's TTL. */
const schedulerSeenAt = new WeakMap<Redis, Map<string, number>>();

/** A job ready for rqEnqueueMany, with its hash as it will be written. */
interface QueuedJob {
  job: Job;
  hash: Record<string, string | Buffer>;
}

function sameValue(a: string | Buffer, b: string | Buffer): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return a.equals(b);
}

/** Validates a queue name: non-empty, no control characters (rq itself accepts any string). */
export function validateQueueName(name: unknown): string {
  if (typeof name !== 'string' || !QUEUE_NAME.test(name)) {
    throw new RqError(`Invalid queue name ${JSON.stringify(name)}: use a non-empty name without control characters`);
  }
  return name;
}

/** A queue: the list `rq:queue:<name>` and the jobs enqueued on it. */
export class Queue {
  /** A subclass names its Job class here (`static override jobClass = MyJob`), as rq's `job_class`. */
  static jobClass: JobClass = Job;

  readonly name: string;
  readonly connection: Redis;
  readonly jobClass: JobClass;
  readonly serializer: Serializer;
  readonly defaultTimeout: number;
  readonly logger: Pick<Logger, 'warning'> | null;

  constructor(name = 'default', options: QueueOptions) {
    this.name = validateQueueName(name);
    if (!options?.connection) throw new RqError(`Queue ${JSON.stringify(name)} needs a connection: new Queue(name, { connection })`);
    this.connection = options.connection;
    this.jobClass = options.jobClass ?? (new.target as typeof Queue).jobClass;
    this.serializer = options.serializer ?? defaultSerializer;
    const timeout = parseTimeout(options.defaultTimeout, 'default timeout') ?? DEFAULT_TIMEOUT;
    if (timeout !== -1 && timeout <= 0) throw new RqError(`Invalid default timeout ${timeout}: positive seconds, or -1 for no limit`);
    this.defaultTimeout = timeout;
    this.logger = options.logger ?? null;
  }

  /** Every queue known to Redis (the members of `rq:queues`). */
  static async all<Q extends Queue>(
    this: new (name: string, options: QueueOptions) => Q,
    options: QueueOptions,
  ): Promise<Q[]> {
    const keys = keysOf(options.connection);
    const members = await options.connection.smembers(keys.queues);
    const names: string[] = [];
    for (const member of members) {
      const name = keys.queueNameFromKey(member);
      if (name === null) {
        throw new InvalidOperationError(`${keys.queues} holds ${JSON.stringify(member)}, which is not a queue key (${keys.queueKeyPrefix}<name>)`);
      }
      names.push(name);
    }
    names.sort();
    return names.map((n) => new this(n, options));
  }

  get keys(): Keys {
    return keysOf(this.connection);
  }
  get key(): string {
    return this.keys.queue(this.name);
  }

  /** Events of this queue's jobs (`completed`, `failed`, `progress`), whoever runs them; `close()` it when done. */
  events(options?: QueueEventsOptions): QueueEvents {
    return new QueueEvents(this, options);
  }

  /** Number of jobs waiting. */
  count(): Promise<number> {
    return this.connection.llen(this.key);
  }

  async isEmpty(): Promise<boolean> {
    return (await this.count()) === 0;
  }

  /** Ids of the waiting jobs, head first (`offset`, `length` page through them). */
  jobIds(offset = 0, length = -1): Promise<string[]> {
    const end = length < 0 ? -1 : offset + length - 1;
    return this.connection.lrange(this.key, offset, end);
  }

  /** The waiting jobs, head first; ids without a job hash are left out. */
  async jobs(offset = 0, length = -1): Promise<Job[]> {
    const ids = await this.jobIds(offset, length);
    const jobs = await this.jobClass.fetchMany(ids, { connection: this.connection, serializer: this.serializer });
    return jobs.filter((j): j is Job => j !== null);
  }

  /** A job of this queue by id, or null; an id whose hash is gone is dropped from the queue as rq does. */
  async fetchJob(id: string): Promise<Job | null> {
    const [job] = await this.jobClass.fetchMany([id], { connection: this.connection, serializer: this.serializer });
    if (!job) {
      await this.connection.lrem(this.key, 0, id);
      return null;
    }
    return job;
  }

  /** Builds (and validates) a job for this queue without writing anything. */
  createJob(options: EnqueueCallOptions & Pick<CreateJobOptions, 'status'>): Job {
    const create: CreateJobOptions = {
      connection: this.connection,
      serializer: this.serializer,
      func: options.func,
      origin: this.name,
      timeout: options.timeout ?? this.defaultTimeout,
    };
    if (options.args !== undefined) create.args = options.args;
    if (options.kwargs !== undefined) create.kwargs = options.kwargs;
    if (options.resultTtl !== undefined) create.resultTtl = options.resultTtl;
    if (options.ttl !== undefined) create.ttl = options.ttl;
    if (options.failureTtl !== undefined) create.failureTtl = options.failureTtl;
    if (options.description !== undefined) create.description = options.description;
    if (options.jobId !== undefined) create.id = options.jobId;
    if (options.meta !== undefined) create.meta = options.meta;
    if (options.retry !== undefined) create.retry = options.retry;
    if (options.status !== undefined) create.status = options.status;
    if (options.dependsOn !== undefined) {
      create.dependsOn = typeof options.dependsOn === 'string' || options.dependsOn instanceof Job ? [options.dependsOn] : options.dependsOn;
    }
    if (options.allowDependencyFailures !== undefined) create.allowDependencyFailures = options.allowDependencyFailures;
    if (options.onSuccess !== undefined) create.onSuccess = options.onSuccess;
    if (options.onFailure !== undefined) create.onFailure = options.onFailure;
    const job = this.jobClass.create(create);
    atFront.set(job, options.atFront ?? false);
    return job;
  }

  /** `queue.enqueue('tasks.add', 1, 2)`: the function's dotted path, then its positional arguments. */
  enqueue(func: string, ...args: unknown[]): Promise<Job> {
    return this.enqueueCall({ func, args });
  }

  /** Enqueues one call with rq's job options, in one round trip. */
  async enqueueCall(options: EnqueueCallOptions): Promise<Job> {
    const job = this.createJob(options);
    await this.enqueueJob(job);
    // Tested here, not inside: most jobs have no retry intervals, and an awaited call costs every enqueue.
    if (job.retryIntervals) await this.warnIfNoScheduler([job]);
    return job;
  }

  /** Enqueues many calls in one round trip; all are validated before anything is written. */
  async enqueueMany(calls: readonly EnqueueCallOptions[]): Promise<Job[]> {
    const jobs = calls.map((c) => this.createJob(c));
    if (jobs.length === 0) return jobs;
    const pipe = pipeline(this.connection);
    // One enqueued_at for the whole call: its jobs are written together.
    const now = new Date();
    // Runs of jobs without dependencies and with the same hash fields go in one script call each (up
    // to ENQUEUE_CHUNK jobs, written all or nothing); a job with dependencies is its own call. Order is kept.
    let run: QueuedJob[] = [];
    let fieldsOfRun = '';
    const flushRun = (): void => {
      if (run.length > 0) queueScript(pipe, ...this.enqueueManyScript(run));
      run = [];
    };
    for (const job of jobs) {
      if (job.dependencyIds.length > 0) {
        flushRun();
        queueScript(pipe, ...this.enqueueDependentScript(job, now));
        continue;
      }
      const hash = this.queuedHash(job, now);
      const fields = Object.keys(hash).join(',');
      if (fields !== fieldsOfRun || run.length === ENQUEUE_CHUNK) {
        flushRun();
        fieldsOfRun = fields;
      }
      run.push({ job, hash });
    }
    flushRun();
    const replies = (await pipe.exec()) ?? [];
    const failure = replies.find(([err]) => err);
    if (failure?.[0]) throw this.enqueueError(failure[0]);
    await this.warnIfNoScheduler(jobs);
    return jobs;
  }

  /** Puts an existing job object on this queue (status `queued`, `enqueued_at` now). */
  async enqueueJob(job: Job): Promise<Job> {
    try {
      if (job.dependencyIds.length === 0) await runScript(this.connection, 'rqEnqueue', ...this.enqueueScriptArgs(job));
      else await runScript(this.connection, ...this.enqueueDependentScript(job));
    } catch (err) {
      throw this.enqueueError(err);
    }
    return job;
  }

  /** The script call that enqueues `job`, which has dependencies. */
  private enqueueDependentScript(job: Job, now?: Date): ScriptCall<'rqEnqueueDependent'> {
    const [keys, args] = this.enqueueScriptArgs(job, now);
    const k = this.keys;
    return [
      'rqEnqueueDependent',
      { ...keys, deferred: k.deferred(this.name), perDependency: job.dependencyIds.flatMap((d) => [k.job(d), k.dependents(d)]) },
      { ...args, now: epochSeconds(), allowFailures: job.allowDependencyFailures ? '1' : '0', dependencyIds: job.dependencyIds },
    ];
  }

  /**
   * The rqEnqueueMany call for a run of jobs with the same hash fields: the field/value pairs every
   * job shares go once, then each job's own values (ioredis' per-argument cost is most of an enqueue).
   */
  private enqueueManyScript(run: readonly QueuedJob[]): ScriptCall<'rqEnqueueMany'> {
    const first = run[0]!.hash;
    const sharedNames: string[] = [];
    const own: string[] = [];
    for (const [name, value] of Object.entries(first)) {
      (run.every(({ hash }) => sameValue(hash[name]!, value)) ? sharedNames : own).push(name);
    }
    const shared: (string | Buffer)[] = [];
    for (const name of sharedNames) shared.push(name, first[name]!);
    const jobKeys: string[] = [];
    const jobs: (string | Buffer)[] = [];
    for (const { job, hash } of run) {
      const ttl = job.ttl ? String(job.ttl) : '';
      jobKeys.push(job.key);
      if (ttl) jobKeys.push(job.dependentsKey, job.dependenciesKey);
      jobs.push(job.id, this.atFront(job) ? '1' : '0', ttl);
      for (const name of own) jobs.push(hash[name]!);
    }
    return ['rqEnqueueMany', { queues: this.keys.queues, queue: this.key, jobs: jobKeys }, { queueMember: this.key, shared, own, jobs }];
  }

  /** Sets what enqueueing sets (origin, status `queued`, enqueued_at, the default timeout) and returns the job's hash. */
  private queuedHash(job: Job, now: Date): Record<string, string | Buffer> {
    job.origin = this.name;
    job.status = JobStatus.QUEUED;
    job.enqueuedAt = now;
    if (job.timeout === null) job.timeout = this.defaultTimeout;
    return job.toHash();
  }

  /** rq writes `enqueue_at_front` only for scheduled and dependent jobs, not for a plain at_front. */
  private atFront(job: Job): boolean {
    return atFront.get(job) ?? job.enqueueAtFront;
  }

  private enqueueScriptArgs(job: Job, now = new Date()): [ScriptKeys<'rqEnqueue'>, ScriptArgs<'rqEnqueue'>] {
    const hash = this.queuedHash(job, now);
    const fields: (string | Buffer)[] = [];
    for (const [field, value] of Object.entries(hash)) fields.push(field, value);
    const keys = { queues: this.keys.queues, queue: this.key, job: job.key, dependents: job.dependentsKey, dependencies: job.dependenciesKey };
    return [keys, { queueMember: this.key, id: job.id, atFront: this.atFront(job) ? '1' : '0', ttl: job.ttl ? String(job.ttl) : '', fields }];
  }

  private enqueueError(err: unknown): Error {
    const message = err instanceof Error ? err.message : String(err);
    const missing = /NODEP dependency (\S+) does not exist/.exec(message);
    if (missing) {
      return new NoSuchJobError(`Cannot enqueue on ${this.name}: dependency ${missing[1]} does not exist (no job hash); nothing was written`, { cause: err });
    }
    if (message.includes('WRONGTYPE')) {
      return new InvalidOperationError(`Cannot enqueue on ${this.name}: ${message.replace(/^.*WRONGTYPE /, '')}; nothing was written`, { cause: err });
    }
    // Already says what to change (the prefix), and callers may catch it by class.
    if (err instanceof CrossSlotError) return err;
    if (err instanceof RedisConnectionError) return new RedisConnectionError(`Enqueue on ${this.name} failed: ${message}`, { cause: err });
    return new RqError(`Enqueue on ${this.name} failed: ${message}`, { cause: err });
  }

  /**
   * Schedules a call for `when` (rq's enqueue_at): the job waits in the ScheduledJobRegistry until a
   * worker started with `--with-scheduler` moves it to the queue. Takes the function's dotted path
   * and its arguments, or the options of enqueueCall.
   */
  async enqueueAt(when: Date, func: string | EnqueueCallOptions, ...args: unknown[]): Promise<Job> {
    if (!(when instanceof Date) || Number.isNaN(when.getTime())) {
      throw new RqError(`enqueueAt needs a valid Date, got ${String(when)}`);
    }
    const job = this.createJob(typeof func === 'string' ? { func, args } : func);
    return this.scheduleJob(job, when);
  }

  /** Schedules a call `seconds` from now (rq's enqueue_in). */
  enqueueIn(seconds: number, func: string | EnqueueCallOptions, ...args: unknown[]): Promise<Job> {
    if (!Number.isFinite(seconds) || seconds < 0) throw new RqError(`enqueueIn needs seconds >= 0, got ${String(seconds)}`);
    return this.enqueueAt(new Date(Date.now() + seconds * 1000), func, ...args);
  }

  /** Puts an existing job into this queue's ScheduledJobRegistry for `when`. */
  async scheduleJob(job: Job, when: Date): Promise<Job> {
    const [keys, args] = this.enqueueScriptArgs(job);
    job.status = JobStatus.SCHEDULED;
    job.enqueuedAt = null;
    if (args.atFront === '1') job.enqueueAtFront = true;
    const frontFields: string[] = job.enqueueAtFront ? ['enqueue_at_front', '1'] : [];
    try {
      await runScript(
        this.connection,
        'rqSchedule',
        { queues: keys.queues, scheduled: this.keys.scheduled(this.name), job: keys.job, dependents: keys.dependents, dependencies: keys.dependencies },
        { queueMember: args.queueMember, id: args.id, runAt: epochSeconds(when), ttl: args.ttl, fields: [...args.fields, ...frontFields] },
      );
    } catch (err) {
      throw this.enqueueError(err);
    }
    await this.warnIfNoScheduler([job], when);
    return job;
  }

  /**
   * The scheduler trap: a scheduled job, or a retry after an interval, waits in the
   * ScheduledJobRegistry until a scheduler moves it, and only workers started with
   * `--with-scheduler` run one (rq's lock `rq:scheduler-lock:<queue>`, Python's too). When no
   * scheduler holds that lock, one warning per queue says so instead of a job that silently waits.
   */
  private async warnIfNoScheduler(jobs: readonly Job[], scheduledFor?: Date): Promise<void> {
    const job = scheduledFor ? jobs[0] : jobs.find((j) => j.retryIntervals?.some((i) => i > 0));
    if (!job) return;
    const warned = warnedNoScheduler.get(this.connection) ?? new Set<string>();
    warnedNoScheduler.set(this.connection, warned);
    if (warned.has(this.name)) return;
    const seen = schedulerSeenAt.get(this.connection) ?? new Map<string, number>();
    schedulerSeenAt.set(this.connection, seen);
    if (Date.now() - (seen.get(this.name) ?? -Infinity) < SCHEDULER_LOCK_TTL * 1000) return;
    const lock = this.keys.schedulerLock(this.name);
    if (await this.connection.exists(lock)) {
      seen.set(this.name, Date.now());
      return;
    }
    warned.add(this.name);
    const what = scheduledFor
      ? `Job ${job.id} is scheduled for ${scheduledFor.toISOString()}`
      : `Job ${job.id} retries after ${job.retryIntervals!.join(', ')} s when it fails`;
    const message =
      `${what} on queue '${this.name}', but no scheduler runs for it (no ${lock}): ` +
      `it waits in the ScheduledJobRegistry until a worker runs with --with-scheduler (rq worker --with-scheduler ${this.name})`;
    if (this.logger) this.logger.warning(message);
    else process.emitWarning(message, 'RqWarning');
  }

  /** Removes every waiting job and its hash; returns how many were removed. */
  async empty(): Promise<number> {
    const keys = this.keys;
    const CHUNK = 500;
    let removed = 0;
    for (;;) {
      const ids = await this.connection.lrange(this.key, 0, CHUNK - 1);
      if (ids.length === 0) return removed;
      const jobKeys = ids.flatMap((id) => [keys.job(id), keys.dependents(id)]);
      const n = await runScript(this.connection, 'rqEmptyChunk', { queue: this.key, jobs: jobKeys }, { ids });
      // -1: a worker took from the head meanwhile; read it again.
      if (n > 0) removed += n;
    }
  }

  /** Empties the queue and forgets it (`rq:queues`). */
  async delete(): Promise<void> {
    await this.empty();
    await this.connection.multi().del(this.key).srem(this.keys.queues, this.key).exec();
  }

  /** Removes one id from the waiting list. */
  async remove(jobOrId: Job | string): Promise<number> {
    return this.connection.lrem(this.key, 0, typeof jobOrId === 'string' ? jobOrId : jobOrId.id);
  }
}
