import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { CronExpression } from 'cron-parser';
import type { Redis } from 'ioredis';
import { ConfigError } from './errors/ConfigError.js';
import { InvalidOperationError } from './errors/InvalidOperationError.js';
import { MissingDependencyError } from './errors/MissingDependencyError.js';
import { DEFAULT_RESULT_TTL } from './Job.js';
import type { Logger } from './logging.js';
import { Queue } from './Queue.js';
import { keysOf } from './redis/connection.js';
import { resolveDotted, type ResolveOptions } from './resolve.js';
import type { Serializer } from './serializers.js';
import { utcformat, utcparse } from './time.js';

/**
 * One entry of a cron config: rq 2.x's `cron.register(func, queue_name, args, kwargs, interval=, cron=,
 * job_timeout=, result_ttl=, ttl=, failure_ttl=, meta=)`, in camelCase, with the function as a dotted path.
 */
export interface CronEntryOptions {
  /** Run every this many seconds (a whole number >= 1), the first time at start. */
  interval?: number;
  /**
   * A cron expression, in UTC: 5 fields (minute hour day-of-month month day-of-week), or 6 with
   * SECONDS FIRST (cron-parser's order; croniter, used by rq 2.x, puts them last), or an alias such as @hourly.
   */
  cron?: string;
  args?: readonly unknown[];
  kwargs?: Readonly<Record<string, unknown>>;
  jobTimeout?: number;
  resultTtl?: number;
  ttl?: number;
  failureTtl?: number;
  meta?: Record<string, unknown>;
}

export interface CronEntry extends CronEntryOptions {
  func: string;
  queueName: string;
}

/**
 * Where a config module's `cron.register` calls go. Kept on globalThis: the config is loaded by jiti,
 * which may load its own copy of rq-ts, and the scheduler must see what that copy registered.
 */
const REGISTRY = Symbol.for('rq-ts.cron.entries');
type Global = typeof globalThis & { [REGISTRY]?: CronEntry[] };

/** What a cron config module imports: `import { cron } from 'rq-ts'; cron.register('jobs.report', 'default', { cron: '0 * * * *' })`. */
export const cron = {
  register(func: string, queueName: string, options: CronEntryOptions = {}): CronEntry {
    const entry: CronEntry = { ...options, func, queueName };
    ((globalThis as Global)[REGISTRY] ??= []).push(entry);
    return entry;
  },
};

/** Takes the entries registered so far (a config module's), leaving none behind. */
export function takeRegisteredEntries(): CronEntry[] {
  const g = globalThis as Global;
  const entries = g[REGISTRY] ?? [];
  g[REGISTRY] = [];
  return entries;
}

type CronParser = typeof import('cron-parser').CronExpressionParser;
let cronParser: CronParser | undefined;

/**
 * cron-parser, an optional peer dependency (with luxon it is 5 MB, near half an install of rq-ts, and
 * only `rq cron` needs it). Rejects with the command that installs it.
 */
async function loadCronParser(): Promise<CronParser> {
  try {
    cronParser ??= (await import('cron-parser')).CronExpressionParser;
  } catch (cause) {
    throw new MissingDependencyError('rq cron needs cron-parser, which is not installed: npm install cron-parser', { cause });
  }
  return cronParser;
}

/** An entry checked at start, with its schedule and an id that every scheduler of the same config computes alike. */
interface Scheduled {
  readonly entry: CronEntry;
  readonly id: string;
  readonly expression: CronExpression | null;
  /** The latest slot (ms) this scheduler handled; slots at or before it are not considered. */
  handled: number;
  latestEnqueue: Date | null;
}

function describeEntry(e: Partial<CronEntry>, i: number): string {
  const func = typeof e.func === 'string' ? e.func : typeof e.func === 'function' ? `function ${(e.func as { name: string }).name || '(anonymous)'}` : String(e.func);
  return `cron entry ${i + 1} (${func} on ${JSON.stringify(e.queueName)})`;
}

const CRON_HELP = 'expected 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or an alias such as @hourly; all in UTC';

/**
 * Checks each entry as rq 2.x's CronJob does (exactly one of interval and cron) and more: a cron
 * expression must parse, an interval must be a whole number of seconds >= 1, the function must
 * resolve. The first problem is a ConfigError naming the entry.
 */
export async function checkEntries(entries: readonly CronEntry[], resolve: ResolveOptions): Promise<void> {
  await loadCronParser();
  if (entries.length === 0) throw new ConfigError('the cron config registered no entries: call cron.register(func, queueName, { interval } or { cron }) in it');
  for (const [i, e] of entries.entries()) {
    const what = describeEntry(e, i);
    if (typeof e.func !== 'string' || e.func === '') throw new ConfigError(`${what}: the function must be a dotted path such as "jobs.report"`);
    if (typeof e.queueName !== 'string' || e.queueName === '') throw new ConfigError(`${what}: a queue name is needed`);
    if (e.interval !== undefined && e.cron !== undefined) throw new ConfigError(`${what}: give interval or cron, not both`);
    if (e.interval === undefined && e.cron === undefined) throw new ConfigError(`${what}: give interval (seconds) or cron (an expression)`);
    if (e.interval !== undefined && (!Number.isInteger(e.interval) || e.interval < 1)) {
      throw new ConfigError(`${what}: interval ${JSON.stringify(e.interval)} is not a whole number of seconds >= 1`);
    }
    if (e.cron !== undefined) parseCron(e.cron, what);
    try {
      await resolveDotted(e.func, resolve, 'function', what);
    } catch (cause) {
      throw new ConfigError(`${what}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  }
}

function parseCron(expr: unknown, what: string, currentDate: Date = new Date()): CronExpression {
  if (typeof expr !== 'string') throw new ConfigError(`${what}: cron ${JSON.stringify(expr)} is not a string; ${CRON_HELP}`);
  const fields = expr.trim().split(/\s+/).length;
  // cron-parser fills in missing fields (`* * * *` would mean every minute); rq's croniter does not.
  if (!expr.trim().startsWith('@') && fields !== 5 && fields !== 6) throw new ConfigError(`${what}: cron ${JSON.stringify(expr)} has ${fields} fields; ${CRON_HELP}`);
  try {
    if (!cronParser) throw new Error('cron-parser is not loaded (loadCronParser)');
    return cronParser.parse(expr, { currentDate, tz: 'UTC' });
  } catch (cause) {
    throw new ConfigError(`${what}: cron ${JSON.stringify(expr)} is invalid (${cause instanceof Error ? cause.message : String(cause)}); ${CRON_HELP}`, { cause });
  }
}

export interface CronSchedulerOptions {
  connection: Redis;
  logger: Logger;
  /** What the scheduler's hash shows as config_file. */
  configFile?: string;
  name?: string;
  /** How the jobs are written (default JSON; rq's `-S`). */
  serializer?: Serializer;
}

/**
 * rq 2.10's CronScheduler, in its keys: a member of the `rq:cron_schedulers` sorted set (score: last
 * heartbeat) and a `rq:cron_scheduler:<name>` hash with its entries, so 2.x's
 * `CronScheduler.all()` lists it. 2.10 has no lock between schedulers; here several may run the same
 * config: each due run is a slot (the cron time, or the interval's multiple of the epoch) and the
 * scheduler that wins `SET rq:cron_claim:<entry>:<slot> NX` enqueues it, so each slot runs once.
 */
export class CronScheduler {
  readonly name: string;
  readonly connection: Redis;
  private readonly logger: Logger;
  private readonly configFile: string;
  private readonly serializer: Serializer | undefined;
  private readonly createdAt = new Date();
  private scheduled: Scheduled[] = [];
  private stopRequested = false;
  private wake: (() => void) | null = null;

  constructor(options: CronSchedulerOptions) {
    this.connection = options.connection;
    this.logger = options.logger;
    this.configFile = options.configFile ?? '';
    this.serializer = options.serializer;
    this.name = options.name ?? `${hostname()}:${process.pid}:${randomUUID().replaceAll('-', '').slice(0, 6)}`;
  }

  private get keys(): { registry: string; hash: string; claim: (id: string, slot: number) => string } {
    const p = keysOf(this.connection).prefix;
    return { registry: `${p}cron_schedulers`, hash: `${p}cron_scheduler:${this.name}`, claim: (id, slot) => `${p}cron_claim:${id}:${slot / 1000}` };
  }

  /** Adds entries already checked by checkEntries. */
  async register(entries: readonly CronEntry[]): Promise<void> {
    await loadCronParser();
    const now = Date.now();
    for (const [i, entry] of entries.entries()) {
      const id = createHash('sha1').update(JSON.stringify([entry.func, entry.queueName, entry.interval ?? null, entry.cron ?? null, entry.args ?? [], entry.kwargs ?? {}])).digest('hex').slice(0, 16);
      // An interval entry runs at start (as in rq 2.x): its current slot is not handled yet.
      const handled = entry.interval !== undefined ? now - entry.interval * 1000 : now;
      this.scheduled.push({ entry, id, expression: entry.cron !== undefined ? parseCron(entry.cron, describeEntry(entry, i)) : null, handled, latestEnqueue: null });
      this.logger.info(entry.interval !== undefined ? `Registered '${entry.func}' to run on ${entry.queueName} every ${entry.interval} seconds` : `Registered '${entry.func}' to run on ${entry.queueName} with cron schedule '${entry.cron}'`);
    }
  }

  /** The latest slot (ms) at or before `now`. */
  private latestSlot(s: Scheduled, now: number): number {
    if (s.entry.interval !== undefined) return Math.floor(now / (s.entry.interval * 1000)) * s.entry.interval * 1000;
    s.expression!.reset(new Date(now + 1));
    return s.expression!.prev().getTime();
  }

  /** The first slot (ms) after `after`. */
  private nextSlot(s: Scheduled, after: number): number {
    if (s.entry.interval !== undefined) return (Math.floor(after / (s.entry.interval * 1000)) + 1) * s.entry.interval * 1000;
    s.expression!.reset(new Date(after));
    return s.expression!.next().getTime();
  }

  /** Enqueues what is due now (each slot by the one scheduler that claims it); returns how many this one enqueued. */
  async enqueueDue(now = Date.now()): Promise<number> {
    let enqueued = 0;
    for (const s of this.scheduled) {
      const slot = this.latestSlot(s, now);
      if (slot <= s.handled) continue;
      const { entry } = s;
      const previous = s.handled;
      const claim = this.keys.claim(s.id, slot);
      // Kept past the slot's own period, so that a scheduler starting within it does not run it again.
      const ttl = Math.max(entry.interval ?? 0, 60) + 60;
      const won = await this.connection.set(claim, this.name, 'EX', ttl, 'NX');
      // A slot missed while this scheduler was held up (Redis away, the machine asleep) is not made up for:
      // only the latest one runs, as rq 2.x computes the next run from the last.
      s.handled = slot;
      if (won === null) {
        this.logger.debug(`'${entry.func}' at ${new Date(slot).toISOString()}: enqueued by another scheduler`);
        continue;
      }
      const job = await new Queue(entry.queueName, { connection: this.connection, ...(this.serializer ? { serializer: this.serializer } : {}) }).enqueueCall({
        func: entry.func,
        args: entry.args ?? [],
        kwargs: entry.kwargs ?? {},
        ...(entry.jobTimeout !== undefined ? { timeout: entry.jobTimeout } : {}),
        resultTtl: entry.resultTtl ?? DEFAULT_RESULT_TTL,
        ...(entry.ttl !== undefined ? { ttl: entry.ttl } : {}),
        ...(entry.failureTtl !== undefined ? { failureTtl: entry.failureTtl } : {}),
        ...(entry.meta !== undefined ? { meta: entry.meta } : {}),
      }).catch(async (err: unknown) => {
        // Not enqueued: the slot is given back, to this scheduler's next round or another's.
        s.handled = previous;
        await this.connection.del(claim).catch(() => {});
        throw err;
      });
      s.latestEnqueue = new Date(now);
      enqueued++;
      this.logger.info(`Enqueued job ${entry.func} to queue ${entry.queueName} (slot ${new Date(slot).toISOString()}, job ${job.id})`);
    }
    if (enqueued > 0) await this.connection.hset(this.keys.hash, 'cron_jobs', this.cronJobsJson(now));
    return enqueued;
  }

  /** The entries as rq 2.x's CronJob.to_dict, which its CronScheduler.fetch/all read back. */
  private cronJobsJson(now: number): string {
    return JSON.stringify(
      this.scheduled.map((s) => {
        const e = s.entry;
        const d: Record<string, unknown> = {
          func_name: e.func,
          queue_name: e.queueName,
          args: e.args && e.args.length > 0 ? JSON.stringify(e.args) : null,
          kwargs: e.kwargs && Object.keys(e.kwargs).length > 0 ? JSON.stringify(e.kwargs) : null,
          interval: e.interval ?? null,
          cron: e.cron ?? null,
          latest_enqueue_time: s.latestEnqueue ? utcformat(s.latestEnqueue) : null,
          next_enqueue_time: utcformat(new Date(this.nextSlot(s, Math.max(now, s.handled)))),
          result_ttl: e.resultTtl ?? DEFAULT_RESULT_TTL,
        };
        if (e.jobTimeout !== undefined) d.job_timeout = e.jobTimeout;
        if (e.ttl !== undefined) d.ttl = e.ttl;
        if (e.failureTtl !== undefined) d.failure_ttl = e.failureTtl;
        if (e.meta !== undefined) d.meta = JSON.stringify(e.meta);
        return d;
      }),
    );
  }

  /**
   * rq 2.x's register_birth: join the registry, then write the hash. A name already there is refused
   * before the hash is written: the running scheduler of that name keeps its own (2.10 writes over it).
   */
  async registerBirth(): Promise<void> {
    this.logger.info(`CronScheduler ${this.name}: registering birth...`);
    const { registry, hash } = this.keys;
    const added = await this.connection.zadd(registry, 'NX', Date.now() / 1000, this.name);
    if (added === 0) throw new InvalidOperationError(`CronScheduler '${this.name}' is already registered (in ${registry}): give each scheduler its own name (--name)`);
    await this.connection
      .multi()
      .hset(hash, { hostname: hostname(), pid: String(process.pid), name: this.name, created_at: utcformat(this.createdAt), config_file: this.configFile, cron_jobs: this.cronJobsJson(Date.now()) })
      .expire(hash, 60)
      .exec();
  }

  private async heartbeat(): Promise<void> {
    const { registry, hash } = this.keys;
    const [[, changed] = []] = (await this.connection.multi().zadd(registry, 'XX', 'CH', Date.now() / 1000, this.name).expire(hash, 120).exec()) ?? [];
    if (changed === 0) this.logger.warning(`CronScheduler ${this.name}: heartbeat failed - scheduler not found in registry`);
  }

  async registerDeath(): Promise<void> {
    this.logger.info(`CronScheduler ${this.name}: registering death...`);
    await this.connection.multi().zrem(this.keys.registry, this.name).del(this.keys.hash).exec();
  }

  /** Ends run() after the current round. */
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  /** Waits `ms`, or less if stop() is called. */
  private async sleep(ms: number): Promise<void> {
    if (this.stopRequested) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = null;
  }

  /** Registers, then enqueues what is due and sleeps until the next slot (at most 30 s, to heartbeat), until stopped. */
  async run(): Promise<void> {
    this.logger.info(`CronScheduler ${this.name}: starting...`);
    await this.registerBirth();
    try {
      while (!this.stopRequested) {
        try {
          await this.enqueueDue();
          await this.heartbeat();
        } catch (err) {
          // A Redis error in one round (a failover's READONLY, say) must not end the scheduler; the
          // slots of this round that were not claimed are tried again in the next one.
          this.logger.error(`CronScheduler ${this.name}: ${err instanceof Error ? err.message : String(err)}; trying again in 1 s`);
          await this.sleep(1000);
          continue;
        }
        const now = Date.now();
        const next = Math.min(...this.scheduled.map((s) => this.nextSlot(s, Math.max(now, s.handled))));
        const wait = Math.max(0, Math.min(next - Date.now(), 30_000));
        await this.sleep(wait);
      }
    } finally {
      await this.registerDeath();
      this.logger.info(`CronScheduler ${this.name}: shutdown complete`);
    }
  }
}

/** One job a running cron scheduler enqueues, as its hash's `cron_jobs` (rq 2.x's CronJob.to_dict) shows it. */
export interface CronJobInfo {
  func: string;
  queueName: string;
  interval: number | null;
  cron: string | null;
  latestEnqueue: Date | null;
  nextEnqueue: Date | null;
}

/** A cron scheduler in `rq:cron_schedulers`, ours or python-rq 2.x's, as 2.x's CronScheduler.fetch reads it. */
export interface CronSchedulerInfo {
  name: string;
  hostname: string;
  pid: number;
  configFile: string;
  createdAt: Date | null;
  lastHeartbeat: Date;
  /** Null when the hash's `cron_jobs` is missing or unreadable (2.x then shows none). */
  jobs: CronJobInfo[] | null;
}

/** rq 2.x's cron_scheduler_registry.cleanup threshold: a scheduler silent this long is gone. */
export const CRON_SCHEDULER_STALE_SECONDS = 120;

function readCronJobs(raw: string | undefined): CronJobInfo[] | null {
  if (!raw) return null;
  try {
    const list: unknown = JSON.parse(raw);
    if (!Array.isArray(list)) return null;
    return list.map((j: Record<string, unknown>) => ({
      func: String(j.func_name),
      queueName: String(j.queue_name),
      interval: typeof j.interval === 'number' ? j.interval : null,
      cron: typeof j.cron === 'string' ? j.cron : null,
      latestEnqueue: utcparse(typeof j.latest_enqueue_time === 'string' ? j.latest_enqueue_time : null),
      nextEnqueue: utcparse(typeof j.next_enqueue_time === 'string' ? j.next_enqueue_time : null),
    }));
  } catch {
    return null;
  }
}

/**
 * rq 2.x's `CronScheduler.all(connection)`: drops the schedulers whose last heartbeat is older than
 * 120 s (as 2.x's cleanup does, so one killed without unregistering leaves the list), then reads each
 * one's hash, oldest heartbeat first; a name whose hash has expired is skipped, as 2.x does.
 */
export async function allCronSchedulers(connection: Redis): Promise<CronSchedulerInfo[]> {
  const p = keysOf(connection).prefix;
  const registry = `${p}cron_schedulers`;
  await connection.zremrangebyscore(registry, '0', String(Date.now() / 1000 - CRON_SCHEDULER_STALE_SECONDS));
  const members = await connection.zrange(registry, '0', '-1', 'WITHSCORES');
  const found: CronSchedulerInfo[] = [];
  for (let i = 0; i < members.length; i += 2) {
    const name = members[i]!;
    // One key at a time, not a pipeline: under a prefix without a hash tag a Cluster spreads the hashes over its nodes.
    const h = await connection.hgetall(`${p}cron_scheduler:${name}`);
    if (Object.keys(h).length === 0) continue;
    found.push({
      name,
      hostname: h.hostname ?? '',
      pid: Number(h.pid ?? 0),
      configFile: h.config_file ?? '',
      createdAt: utcparse(h.created_at),
      lastHeartbeat: new Date(Number(members[i + 1]) * 1000),
      jobs: readCronJobs(h.cron_jobs),
    });
  }
  return found;
}
