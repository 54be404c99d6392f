import type { ChainableCommander, Redis } from 'ioredis';
import { Job } from '../Job.js';
import type { JobClass } from '../Queue.js';
import { keysOf } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import { defaultSerializer, type Serializer } from '../serializers.js';
import { redisEpochSeconds } from '../time.js';

export interface RegistryOptions {
  connection: Redis;
  jobClass?: JobClass;
  serializer?: Serializer;
}

/**
 * rq 2.x writes StartedJobRegistry members as `<job id>:<execution id>`; rq-ts and 1.13 write bare
 * ids. Job ids never contain ':', so the id is what precedes the first ':'.
 */
export function jobIdOfMember(member: string): string {
  const i = member.indexOf(':');
  return i === -1 ? member : member.slice(0, i);
}

/** A sorted set of job ids for one queue, scored as rq scores it (see each subclass). */
export abstract class BaseRegistry {
  readonly name: string;
  readonly connection: Redis;
  readonly jobClass: JobClass;
  readonly serializer: Serializer;

  constructor(queueName: string, options: RegistryOptions) {
    this.name = queueName;
    this.connection = options.connection;
    this.jobClass = options.jobClass ?? Job;
    this.serializer = options.serializer ?? defaultSerializer;
  }

  protected abstract keyFor(keys: Keys, queue: string): string;

  get keys(): Keys {
    return keysOf(this.connection);
  }
  get key(): string {
    return this.keyFor(this.keys, this.name);
  }

  /** Drops or moves entries expired at `now` (epoch seconds; default: Redis's clock); what that means depends on the registry. */
  abstract cleanup(now?: number): Promise<void>;

  /** Number of entries, after a cleanup as rq does. */
  async count(cleanup = true): Promise<number> {
    if (cleanup) await this.cleanup();
    return this.connection.zcard(this.key);
  }

  /** Job ids, lowest score first (`end` inclusive, -1 = to the end), after a cleanup as rq does. */
  async getJobIds(start = 0, end = -1, cleanup = true): Promise<string[]> {
    if (cleanup) await this.cleanup();
    const members = await this.connection.zrange(this.key, String(start), String(end));
    return members.map(jobIdOfMember);
  }

  /** Members whose score is at or before `now` (epoch seconds; default: Redis's clock). */
  async getExpiredJobIds(now?: number): Promise<string[]> {
    return (await this.connection.zrangebyscore(this.key, 0, now ?? (await redisEpochSeconds(this.connection)))).map(jobIdOfMember);
  }

  async contains(jobOrId: Job | string): Promise<boolean> {
    const id = typeof jobOrId === 'string' ? jobOrId : jobOrId.id;
    return (await this.connection.zscore(this.key, id)) !== null;
  }

  /** Adds a job with score now+ttl by Redis's clock (`ttl` -1 = `+inf`, never expires). */
  async add(jobOrId: Job | string, ttl = 0, pipeline?: ChainableCommander): Promise<void> {
    const id = typeof jobOrId === 'string' ? jobOrId : jobOrId.id;
    const score = ttl < 0 ? '+inf' : (await redisEpochSeconds(this.connection)) + ttl;
    const p = (pipeline ?? this.connection).zadd(this.key, String(score), id);
    if (!pipeline) await p;
  }

  /** Removes a job (and with `deleteJob`, deletes the job itself). */
  async remove(jobOrId: Job | string, options: { deleteJob?: boolean } = {}): Promise<number> {
    const id = typeof jobOrId === 'string' ? jobOrId : jobOrId.id;
    const removed = await this.connection.zrem(this.key, id);
    if (options.deleteJob) {
      const job = typeof jobOrId === 'string' ? await this.fetch(id) : jobOrId;
      await job?.delete({ removeFromQueue: false });
    }
    return removed;
  }

  protected async fetch(id: string): Promise<Job | null> {
    const [job] = await this.jobClass.fetchMany([id], { connection: this.connection, serializer: this.serializer });
    return job ?? null;
  }
}

/** Registries whose expired entries are simply dropped (finished, failed). */
export abstract class ExpiringRegistry extends BaseRegistry {
  async cleanup(now?: number): Promise<void> {
    await this.connection.zremrangebyscore(this.key, 0, now ?? (await redisEpochSeconds(this.connection)));
  }
}
