/**
 * Every Redis key name rq-ts reads or writes, in python-rq 1.13's layout (rq-wire-protocol.md §1).
 * The `rq:` prefix is a setting: a hash-tagged prefix such as `{rq}:` puts a deployment's keys in
 * one Redis Cluster slot. Python's rq only sees keys under the default prefix.
 */
export const DEFAULT_PREFIX = 'rq:';

/**
 * The prefix on a Redis Cluster unless one is set: the hash tag `{rq}` sends every key to one slot,
 * so every script's KEYS are in one slot (and on one master).
 */
export const CLUSTER_PREFIX = '{rq}:';

export class Keys {
  readonly queues: string;
  readonly workers: string;
  readonly suspended: string;
  readonly queueKeyPrefix: string;
  readonly workerKeyPrefix: string;
  readonly jobKeyPrefix: string;

  constructor(readonly prefix: string = DEFAULT_PREFIX) {
    this.queues = `${prefix}queues`;
    this.workers = `${prefix}workers`;
    this.suspended = `${prefix}suspended`;
    this.queueKeyPrefix = `${prefix}queue:`;
    this.workerKeyPrefix = `${prefix}worker:`;
    this.jobKeyPrefix = `${prefix}job:`;
  }

  queue(name: string): string {
    return this.queueKeyPrefix + name;
  }
  /** rq 2.x's list between a queue and the StartedJobRegistry: a claimed id waits here until registered. */
  intermediate(queue: string): string {
    return `${this.queueKeyPrefix}${queue}:intermediate`;
  }
  /** Marker set by the maintenance sweep on an id it found stranded in an intermediate list. */
  intermediateSeen(queue: string, id: string): string {
    return `${this.queueKeyPrefix}${queue}:intermediate:first_seen:${id}`;
  }
  /** Queue name from a member of `rq:queues`, or null if the member is not a queue key. */
  queueNameFromKey(key: string): string | null {
    return key.startsWith(this.queueKeyPrefix) ? key.slice(this.queueKeyPrefix.length) : null;
  }
  job(id: string): string {
    return this.jobKeyPrefix + id;
  }
  dependents(id: string): string {
    return `${this.jobKeyPrefix}${id}:dependents`;
  }
  /** The double colon is rq's own (`'{0}:{1}:dependencies'.format('rq:job:', id)`). */
  dependencies(id: string): string {
    return `${this.jobKeyPrefix}:${id}:dependencies`;
  }
  results(id: string): string {
    return `${this.prefix}results:${id}`;
  }
  /** rq 2.x: the execution ids of a job's runs (a sorted set scored by expiry). */
  executions(id: string): string {
    return `${this.prefix}executions:${id}`;
  }
  /** rq 2.x: one run's hash (`id`, `created_at`, `last_heartbeat`); `member` is `<job id>:<execution id>`. */
  execution(member: string): string {
    return `${this.prefix}execution:${member}`;
  }
  started(queue: string): string {
    return `${this.prefix}wip:${queue}`;
  }
  finished(queue: string): string {
    return `${this.prefix}finished:${queue}`;
  }
  failed(queue: string): string {
    return `${this.prefix}failed:${queue}`;
  }
  deferred(queue: string): string {
    return `${this.prefix}deferred:${queue}`;
  }
  scheduled(queue: string): string {
    return `${this.prefix}scheduled:${queue}`;
  }
  canceled(queue: string): string {
    return `${this.prefix}canceled:${queue}`;
  }
  worker(name: string): string {
    return this.workerKeyPrefix + name;
  }
  workerNameFromKey(key: string): string | null {
    return key.startsWith(this.workerKeyPrefix) ? key.slice(this.workerKeyPrefix.length) : null;
  }
  workersOf(queue: string): string {
    return `${this.workers}:${queue}`;
  }
  cleanRegistriesLock(queue: string): string {
    return `${this.prefix}clean_registries:${queue}`;
  }
  schedulerLock(queue: string): string {
    return `${this.prefix}scheduler-lock:${queue}`;
  }
  pubsub(workerName: string): string {
    return `${this.prefix}pubsub:${workerName}`;
  }
}
