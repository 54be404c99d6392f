import { randomUUID } from 'node:crypto';
import type { Job } from './Job.js';
import type { Queue } from './Queue.js';
import { runScript, type NextArgs, type NextMode, type NextReply, type ScriptReply } from './redis/scripts.js';
import { utcformat } from './time.js';
import type { Worker } from './Worker.js';
import { untilAnswered } from './RedisOutage.js';
import { corked } from './redis/connection.js';
import { executionKeys, executionOf, newExecutionId, setExecution } from './protocol.js';
import type { DirectLog } from './DirectLog.js';

/** What taking the next job came to (the NEXT block of rqTake, rqFinish and rqFail). */
export type Taken =
  | { kind: 'suspended' }
  | { kind: 'empty' }
  | { kind: 'none' }
  | { kind: 'skipped'; queue: Queue; id: string; reason: string }
  | { kind: 'job'; job: Job };

/**
 * How long a job taken ahead may wait while the current one runs. Past this it goes back to the
 * head of its queue, so another worker can have it: taking ahead pays off for short jobs only, and
 * must never keep a job from an idle worker for long (nor reach maintenance's 60 s grace for ids in
 * intermediate lists).
 */
export const HOLD_MS = 10;

/**
 * Group commit (WorkerOptions.batch): a job whose turn (dequeue to cleanup) took less than this lets
 * the next job held ahead run straight from its intermediate list; one still running after this long
 * is registered as started, as every job is without group commit. One bar for both: a job that runs
 * directly is one that would not have been registered yet.
 */
const DIRECT_CLAIM_MS = 2;

/**
 * Group commit takes this many batches ahead: while the worker runs one batch's jobs, the calls that
 * record the batch before and take the one after are in flight. With two, a busy SimpleWorker was
 * idle 46 % of the time waiting for a reply, at ~9,500 jobs/s; with three, ~14,000 (no-op jobs,
 * batch 4). Four was no faster and less steady. With the default batch of 8: 24 jobs ahead.
 */
const BATCHES_AHEAD = 3;

/** How the cleanup stage records the outcomes it defers (group commit: plugins/CleanupPlugin.ts). */
export interface Deferred {
  /** Records what waits, taking no job: before the engine stops, or claims a job the usual way. */
  flush(): void;
  /** `job` runs straight from its intermediate list past DIRECT_CLAIM_MS: registers it as started (with what waits). */
  claim(job: Job): void;
}

const claimedFrom = new WeakMap<Job, string>();

/** A job's hash as read by HGETALL; null when it is gone or its key holds another type. */
type JobHash = Record<string, Buffer> | null;

/** The hashes a script call wants read right behind it (Lookahead.send): their ids, and the reads once sent. */
export interface HashReads {
  reads: readonly string[];
  hashes?: Map<string, Promise<JobHash>>;
}

/** A job in its queue's intermediate list: taken, not yet registered as started. */
export interface IntermediateJob {
  queue: string;
  id: string;
}

/**
 * The jobs this worker's last scripts took ahead, oldest first: Redis keeps each script's summary in
 * the worker's hash for replays (a slot per token). A horse that takes its own jobs may die holding
 * jobs taken by older calls too (group commit holds up to 3 x batch): its log names those
 * (lib/DirectLog.ts). Those it started since are no longer in their intermediate lists, and giving
 * them back does nothing.
 */
export async function recentlyTaken(worker: Worker): Promise<(IntermediateJob & { seq: number })[]> {
  // Every slot there is (their number depends on the worker's options): read once, at a death.
  const hash = await untilAnswered(worker, 'read the jobs taken ahead', () => worker.connection.hgetallBuffer(worker.key));
  const calls: { seq: number; ahead: { queue: number; id: string }[] }[] = [];
  for (const [field, v] of Object.entries(hash)) {
    const space = v.indexOf(' ');
    if (!/^rqts_call\d+$/.test(field) || space < 0) continue;
    calls.push({ seq: Number(/(\d+)$/.exec(v.toString('latin1', 0, space))?.[1] ?? 0), ahead: takenAhead(v.subarray(space + 1)) });
  }
  const jobs: (IntermediateJob & { seq: number })[] = [];
  for (const { seq, ahead } of calls.sort((x, y) => x.seq - y.seq)) {
    for (const { queue: i, id } of ahead) {
      const queue = worker.queues[i - 1];
      if (queue) jobs.push({ queue: queue.name, id, seq });
    }
  }
  return jobs;
}

/**
 * The jobs taken ahead that a call's replay summary lists (next_summary in include/next.lua):
 * `<outcome> <kind>`, then ` <queue> <length>:<id>` for the job it claimed, started or took, and
 * one more per job taken ahead. An id's length is in bytes; a summary cut short lists what it holds.
 */
export function takenAhead(summary: Buffer): { queue: number; id: string }[] {
  let at = summary.indexOf(0x20);
  at = at < 0 ? -1 : summary.indexOf(0x20, at + 1);
  const jobs: { queue: number; id: string }[] = [];
  for (let first = true; at >= 0 && at < summary.length && summary[at] === 0x20; first = false) {
    const space = summary.indexOf(0x20, at + 1);
    const colon = summary.indexOf(0x3a, at + 1);
    if (space < 0 || colon < space) break;
    const queue = Number(summary.toString('latin1', at + 1, space));
    const length = Number(summary.toString('latin1', space + 1, colon));
    if (!Number.isInteger(queue) || !Number.isInteger(length) || colon + 1 + length > summary.length) break;
    if (!first) jobs.push({ queue, id: summary.toString('utf8', colon + 1, colon + 1 + length) });
    at = colon + 1 + length;
  }
  return jobs;
}

/** Puts a job taken ahead back at the head of its queue, if it is still in the intermediate list (1), else nothing (0). */
export async function giveBack(worker: Worker, queue: string, id: string): Promise<number> {
  const keys = worker.keys;
  // Idempotent: a repeat finds the id no longer in the intermediate list and does nothing.
  return untilAnswered(worker, `put job ${id} back on ${queue}`, () =>
    runScript(worker.connection, 'rqRelease', { intermediate: keys.intermediate(queue), queue: keys.queue(queue) }, { id }),
  );
}

/**
 * The queue a job was claimed from: its StartedJobRegistry entry is there, whatever its `origin`
 * field says (a hand-written hash may name another queue).
 */
export function claimedQueueOf(job: Job, fallback: string): string {
  return claimedFrom.get(job) ?? job.origin ?? fallback;
}

/**
 * The NEXT block of an outcome script, and what it starts: a launched job, a held one; its reads:
 * the job it may claim, unless the worker has its hash, and those it may take ahead.
 */
export interface NextBlock extends HashReads {
  keys: string[];
  args: NextArgs;
  launched: Job | null;
  held: Held | null;
  /** How many jobs the script takes ahead into intermediate lists. */
  takes: number;
}

interface Held {
  queue: Queue;
  index: number;
  id: string;
  /** Built from the hash read when it was taken; null when the script could not read it. */
  job: Job | null;
  /** Its hash has ORPHANED_FIELD: it is registered as started before it runs, never run directly. */
  orphaned: boolean;
}

/**
 * The job hash field that marks a job registry maintenance found stranded in an intermediate list
 * and put back on its queue: its worker died with it taken, and a SimpleWorker under group commit
 * may have died running it. The next worker registers such a job as started before it runs it, so
 * that if it kills that worker too, it is failed as abandoned (a started job) instead of coming back
 * again and again. rq ignores fields it does not know.
 */
export const ORPHANED_FIELD = 'rqts_orphaned';

/** A script sent whose reply the worker has not handled yet, oldest first. */
interface InFlight {
  next: NextBlock;
  done: Promise<void>;
}

/**
 * Jobs taken ahead or on their way (taken by a script in flight) beyond the one starting: with two,
 * the job after the next is known before the reply of the script that started the next one comes,
 * so two outcome scripts can be in flight and Redis records while the worker runs.
 */
const LOOKAHEAD = 2;

/** The NEXT block of an outcome script that takes no next job. */
export const NO_NEXT_JOB: NextBlock = {
  keys: [],
  args: {
    nextMode: 'none',
    nextId: '',
    nextQueue: '',
    claimedAt: '',
    jobMonitoringInterval: '',
    workerName: '',
    claimMode: '',
    takeAhead: '0',
    nextExecId: '',
    peekCount: '',
    nextTtl: '',
  },
  launched: null,
  held: null,
  takes: 0,
  reads: [],
};

/** HGETALL's flat reply as an object; null for an empty one (no such key). */
export function hashOf(reply: Buffer[]): JobHash {
  if (reply.length === 0) return null;
  const hash: Record<string, Buffer> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) {
    // Field names are ASCII (rq's and ours): latin1 decodes them fastest. A `__proto__` field (bad
    // data) would set the object's prototype; no job field has that name.
    const name = reply[i]!.toString('latin1');
    if (name !== '__proto__') hash[name] = reply[i + 1]!;
  }
  return hash;
}

/**
 * The look-ahead of one job engine (JobEngine.lookahead), used by the default dequeue and cleanup
 * stages so that the script that records a job's outcome also gets the next one (one round trip
 * per job while busy):
 * - `peeks`: the head ids seen after the last reply, so that a later script can read their hashes;
 * - `ahead`: a job already claimed (or started) for the next dequeue;
 * - `held`: jobs taken ahead into their intermediate lists, not started, in order. The outcome
 *   script of the current job starts the first and takes more, and the worker runs the started
 *   job without waiting for that script's reply (the script is in flight meanwhile). Up to two
 *   outcome scripts are in flight: Redis records jobs while the next one runs.
 */
export class Lookahead {
  private peeks: string[] = [];
  private ahead: Job | null = null;
  /** With concurrency > 1, each job's outcome script claims one next job: those claimed while `ahead` is taken, in order. */
  private readonly aheadMore: Job[] = [];
  private held: Held[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  private inflight: InFlight[] = [];
  /**
   * Every script whose reply is not fully handled yet. A script counts as answered (out of
   * `inflight`) once the jobs it took are held, before its handler enqueues a job's dependents:
   * settle() waits for those too, so that a burst worker does not find its queues empty while a
   * dependent is on its way into them.
   */
  private readonly handling = new Set<Promise<void>>();
  /** Launched jobs whose own outcome script has been sent. */
  private readonly ended = new WeakSet<Job>();
  /** The take whose reply never came (a dropped connection): sent again as it was, so that Redis replays it. */
  private unanswered: (HashReads & { keys: string[]; args: NextArgs & { token: string }; now: Date }) | null = null;
  private readonly tokenPrefix = randomUUID().slice(0, 8);
  private seq = 0;
  /** Calls with a token sent and not answered yet, by sequence number (windowed()). */
  private readonly unansweredCalls = new Map<number, Promise<void>>();
  /** The last call windowed() holds back, until it goes out: the calls after it wait behind it. */
  private windowTail: Promise<void> | null = null;

  /** The jobs this worker's own takes handed out (the default dequeue's): only these have jobs taken after them. */
  private readonly taken = new WeakSet<Job>();

  /** Group commit: the job running straight from its intermediate list (not registered as started), if any. */
  private direct: Held | null = null;
  /** Registers a direct job as started past DIRECT_CLAIM_MS: one timer, refreshed per job (cheaper than one each). */
  private directTimer: NodeJS.Timeout | null = null;
  /** Whether the last job's turn took less than DIRECT_CLAIM_MS (group commit runs the next one directly). */
  private short = false;
  /** When take() last handed out a job (performance.now()): a Date's milliseconds are too coarse for the bar. */
  private handedOutAt = 0;
  /** Set by the cleanup stage: what records the outcomes it defers. */
  deferred: Deferred | null = null;
  /**
   * A horse's log of the jobs it runs directly (lib/DirectLog.ts), given by its worker: without it a
   * horse does not group, since its worker could not tell which job killed it.
   */
  log: DirectLog | null = null;

  constructor(private readonly worker: Worker) {}

  /** Whether `job` came from this worker's own takes, not from another tap of the dequeue hook. */
  took(job: Job): boolean {
    return this.taken.has(job);
  }

  /**
   * Registers a job another tap of the dequeue hook handed out as started by this worker (status,
   * StartedJobRegistry, the worker busy with it), as the default dequeue's script does for its own.
   * A job without a hash in Redis is left as it is: nothing of it can be recorded.
   */
  async register(job: Job): Promise<void> {
    const w = this.worker;
    const now = new Date();
    const queue = job.origin ?? w.queueNames[0]!;
    // The job the engine runs, handed back by a prepare tap as another object: claimed again under the
    // same execution (one StartedJobRegistry member), as protocol 1 claims the same bare id again.
    const current = w.currentJob;
    const execId = current && current !== job && current.id === job.id && executionOf(current) ? executionOf(current) : this.newExecution();
    const { reply } = await this.claim(w.queues, queue, job.id, now, execId);
    if (typeof reply === 'number') return;
    claimedFrom.set(job, queue);
    setExecution(job, execId);
    job.status = 'started';
    job.startedAt = now;
    job.workerName = w.name;
    w.state = 'busy';
    w.lastHeartbeat = now;
  }

  /**
   * How many replay slots this worker's calls use (include/next.lua), and so how many calls with
   * tokens may wait for their replies at once (windowed()). 2N + 2 for N concurrent jobs (4 for one:
   * two outcome scripts and a failure written for a refused one). Group commit sends a call per batch
   * without waiting while jobs are held ahead (up to BATCHES_AHEAD), besides a claim past 2 ms and a
   * flush: 10, so that windowed() holds none back while Redis keeps up. Fixed per worker (not
   * `grouping`, which follows the protocol).
   */
  private get replaySlots(): number {
    return this.mayGroup ? 2 * (BATCHES_AHEAD + 2) : 2 * this.worker.concurrency + 2;
  }

  /**
   * Whether this engine may group outcomes (WorkerOptions.batch): it runs its jobs itself, one at a
   * time, from its own takes: a SimpleWorker, or the horse of a Worker that takes its own jobs, with
   * the log its worker reads if it dies (lib/DirectLog.ts).
   */
  private get mayGroup(): boolean {
    const w = this.worker;
    return w.batch > 1 && w.concurrency === 1 && (w.role === 'horse' ? w.runsJobs && this.log !== null : w.runsJobsInline);
  }

  /**
   * Whether this engine groups outcomes: it may, under protocol 1 (an rq 2.x execution is written at
   * the start), and a horse's log has not failed a write.
   */
  get grouping(): boolean {
    return this.mayGroup && !this.worker.executions && !this.log?.failed;
  }

  /** The job handed out last has ended (`ok`: its outcome can wait for a group commit): a short one lets the next run directly. */
  ran(ok: boolean): void {
    this.short = ok && performance.now() - this.handedOutAt < DIRECT_CLAIM_MS;
  }

  /** Whether the next dequeue can run a job held ahead directly (its data is known). */
  canRunDirect(): boolean {
    const first = this.held[0];
    return this.short && this.grouping && first !== undefined && first.job !== null && !first.orphaned;
  }

  /** The id of the job that will run directly next, if any. */
  directNext(): string {
    return this.canRunDirect() ? this.held[0]!.id : '';
  }

  /** Whether `job` ran directly (its start unrecorded); it no longer runs: the claim timer leaves it. */
  endDirect(job: Job): boolean {
    if (this.direct?.job !== job) return false;
    this.direct = null;
    return true;
  }

  /**
   * The NEXT block that registers `job`, running directly, as started ('start-held' of a launched
   * job); null when it does not run directly (any more).
   */
  startDirect(job: Job): NextBlock | null {
    const held = this.direct;
    if (held?.job !== job) return null;
    this.direct = null;
    const keys = this.nextKeys(this.worker.queues, held.id, '');
    const args = this.nextArgs(job.startedAt ?? new Date(), 'start-held', held, 0, '', this.worker.heartbeatTtl(job));
    return { keys, args, launched: job, held, takes: 0, reads: [] };
  }

  /** Registers `job`, which ran directly, as started with rqClaim (its outcome is then recorded alone). */
  async claimAlone(job: Job): Promise<void> {
    const w = this.worker;
    await this.claim(w.queues, claimedQueueOf(job, w.queueNames[0]!), job.id, job.startedAt ?? new Date(), '');
  }

  /** The first job held ahead, run without a start script (group commit). */
  private runDirect(): Job | null {
    const held = this.held[0];
    if (!held?.job || held.orphaned) return null;
    // Logged first: a horse that dies running it has its worker fail it (a failed write: registered the usual way).
    if (this.log && !this.log.started(held.queue.name, held.id)) return null;
    this.held.shift();
    if (this.held.length === 0) this.stopHoldTimer();
    const job = held.job;
    const now = new Date();
    job.status = 'started';
    job.startedAt = now;
    job.workerName = this.worker.name;
    this.markClaimed(job, held.queue, now);
    setExecution(job, '');
    this.direct = held;
    if (this.directTimer) this.directTimer.refresh();
    else {
      this.directTimer = setTimeout(() => {
        const running = this.direct?.job;
        if (running) this.deferred?.claim(running);
      }, DIRECT_CLAIM_MS);
      this.directTimer.unref();
    }
    return job;
  }

  /** A token for one logical script call (all its attempts), for the scripts' replay check. */
  token(): string {
    const seq = ++this.seq;
    // Replay slots (include/next.lua): windowed() sends a call once the last one of its slot is answered.
    return `${seq % this.replaySlots}-${this.tokenPrefix}-${seq}`;
  }

  /**
   * Sends the call with `token` (`write` makes every attempt, untilAnswered) once the call that used
   * its replay slot before it has been answered. A call whose reply was lost is sent again after the
   * calls sent behind it on the connection (ioredis resends them in order on reconnect, and Redis may
   * have run them all), so more calls without replies than replay slots would let a later one
   * overwrite an earlier one's summary, which then runs twice. Their number has no bound of its own:
   * jobs held ahead keep a group-committing worker running while replies are late, and what it sends
   * during an outage leaves at once on reconnect. Calls held back go out in their order; while fewer
   * than `replaySlots` wait for their replies, `write` is called at once.
   */
  windowed<T>(token: string, write: () => Promise<T>): Promise<T> {
    const seq = Number(token.slice(token.lastIndexOf('-') + 1));
    const before = this.unansweredCalls.get(seq - this.replaySlots);
    let reply: Promise<T>;
    if (!before && !this.windowTail) {
      reply = write();
    } else {
      const gate: Promise<void> = Promise.all([before, this.windowTail]).then(() => {
        if (this.windowTail === gate) this.windowTail = null;
      });
      this.windowTail = gate;
      reply = gate.then(write);
    }
    const answered: Promise<void> = reply.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      if (this.unansweredCalls.get(seq) === answered) this.unansweredCalls.delete(seq);
    });
    this.unansweredCalls.set(seq, answered);
    return reply;
  }

  /** The execution id of a claim: a new one under protocol 2, '' (a bare registry member) under 1. */
  private newExecution(): string {
    return this.worker.executions ? newExecutionId() : '';
  }

  /** How the claim scripts compute the heartbeat TTL: as `worker.heartbeatTtl` does. */
  get mode(): 'inline' | 'process' {
    return this.worker.claimMode;
  }

  /**
   * The NEXT block of an outcome script (rqFinish, rqFail): none when the worker will not run
   * another job (`remaining`: how many more it will run after the current one), else claim the head
   * or start the first job held ahead (reading its hash when its data is not known yet), and take
   * as many ahead as keep LOOKAHEAD jobs coming. A held job whose data is known is launched: the next
   * dequeue returns it at once, while the script that starts it is in flight. Call it when ready().
   */
  next(remaining: number, now: Date): NextBlock {
    if (remaining < 1) return NO_NEXT_JOB;
    // An orphaned job is started by this block ('start-held'), and then runs as a launched job.
    if (this.short && this.grouping && !this.held[0]?.orphaned) return this.takeAhead(now, remaining);
    const held = this.held.shift() ?? null;
    if (held) this.log?.left(held.id);
    if (this.held.length === 0) this.stopHoldTimer();
    const mode: NextMode = !held ? 'claim-head' : held.job ? 'start-held' : 'start-held-read';
    const taking = this.inflightTakes();
    // The peeked ids that scripts in flight will not take first: those this one may take ahead.
    const candidates = this.peeks.slice(taking);
    // Concurrent outcome scripts each use another peeked id (one that matches the head saves a round trip).
    const a = held
      ? { id: held.id, index: held.index }
      : { id: (this.worker.concurrency > 1 ? this.peeks.shift() : candidates.shift()) ?? '', index: 0 };
    const coming = this.held.length + taking;
    const takes = Math.max(0, Math.min(LOOKAHEAD - coming, remaining - 1 - coming));
    const execId = a.id ? this.newExecution() : '';
    const keys = this.nextKeys(this.worker.queues, a.id, execId);
    const args = this.nextArgs(now, mode, a, takes, execId, mode === 'start-held' ? this.worker.heartbeatTtl(held!.job!) : '');
    // A's hash unless the worker has it; those of the heads it expects to take ahead, to launch them.
    const reads = new Set(candidates.slice(0, takes));
    if (mode !== 'start-held' && a.id) reads.add(a.id);
    if (mode !== 'start-held' || !held) return { keys, args, launched: null, held, takes, reads: [...reads] };
    const job = held.job!;
    job.status = 'started';
    job.startedAt = now;
    job.workerName = this.worker.name;
    this.markClaimed(job, held.queue, now);
    setExecution(job, execId);
    this.ahead = job;
    return { keys, args, launched: job, held, takes, reads: [...reads] };
  }

  /**
   * Group commit: a NEXT block that only takes jobs ahead, up to BATCHES_AHEAD batches' worth (and no
   * more than the `remaining` jobs the worker will run), for the next ones to run directly.
   */
  private takeAhead(now: Date, remaining: number): NextBlock {
    const taking = this.inflightTakes();
    const takes = Math.max(0, Math.min(BATCHES_AHEAD * this.worker.batch, remaining) - this.held.length - taking);
    const keys = this.nextKeys(this.worker.queues, '', '');
    const args = this.nextArgs(now, 'take-ahead', { id: '', index: 0 }, takes, '', '');
    return { keys, args, launched: null, held: null, takes, reads: this.peeks.slice(taking, taking + takes) };
  }

  /**
   * Sends a script with a NEXT block (`script` sends it) and, right behind it on the same
   * connection, HGETALL of each hash the block wants (`call.reads`), which Redis runs after the
   * script: the worker gets the hashes of the job claimed and of those taken ahead without Redis
   * moving them through Lua (include/next.lua). Call it again for every attempt of the script.
   */
  send<R>(call: HashReads, script: () => Promise<R>): Promise<R> {
    return corked(this.worker.connection, () => {
      const reply = script();
      if (call.reads.length > 0) call.hashes = new Map(call.reads.map((id) => [id, this.readHash(id)]));
      return reply;
    });
  }

  /** A job's hash, read until Redis answers; null when it is gone or not a hash (nothing to build a job from). */
  private readHash(id: string): Promise<JobHash> {
    const w = this.worker;
    // Sent with `call`, HGETALL's reply stays Redis's flat list: ioredis's own hgetall makes an object
    // of it by decoding each field name twice (in a profile of a busy SimpleWorker: 12 µs of its ~140
    // µs per job; hashOf: 4).
    return untilAnswered(w, `read job ${id}`, () => w.connection.callBuffer('HGETALL', w.keys.job(id)) as Promise<Buffer[]>).then(hashOf, () => null);
  }

  /**
   * Redis refused an outcome script (an error reply: it wrote nothing), so its NEXT block did not run
   * either: a launched job, which runs already, is registered now (or, if its own outcome was sent
   * meanwhile, only taken out of its intermediate list); a held one goes back to its queue.
   */
  async outcomeRefused(next: NextBlock): Promise<void> {
    this.forget(next);
    if (next.launched && this.ended.has(next.launched)) await this.unlist(next.launched);
    else if (next.launched) await this.startLaunched(next.launched);
    else if (next.held) await this.giveBackOrLog([next.held]);
  }

  /** The outcome script of `job` is about to be sent (for outcomeRefused()). */
  sendingOutcome(job: Job): void {
    this.ended.add(job);
  }

  /** KEYS of the NEXT block for `queues`. */
  private nextKeys(queues: readonly Queue[], a: string, execId: string): string[] {
    const w = this.worker;
    const keys = w.keys;
    const { execution, executions } = executionKeys(keys, a, execId);
    return [
      keys.suspended,
      w.key,
      keys.job(a || '-'),
      execution,
      executions,
      ...queues.map((q) => q.key),
      ...queues.map((q) => keys.intermediate(q.name)),
      ...queues.map((q) => keys.started(q.name)),
    ];
  }

  /** ARGV of the NEXT block. */
  private nextArgs(now: Date, mode: NextMode, a: { id: string; index: number }, takes: number, execId: string, ttl: number | ''): NextArgs {
    const w = this.worker;
    return {
      nextMode: mode,
      nextId: a.id,
      nextQueue: a.index,
      claimedAt: utcformat(now),
      jobMonitoringInterval: w.jobMonitoringInterval,
      workerName: w.name,
      claimMode: this.mode,
      takeAhead: String(takes),
      nextExecId: execId,
      peekCount: this.peekCount(),
      nextTtl: ttl,
    };
  }

  private inflightTakes(): number {
    let n = 0;
    for (const f of this.inflight) n += f.next.takes;
    return n;
  }

  /** Waits until every script in flight has been answered. */
  async settle(): Promise<void> {
    for (const done of this.handling) await done;
  }

  /** Waits until a job is held ahead or no script is in flight: what next() needs to start the next job. */
  async ready(): Promise<void> {
    while (this.held.length === 0 && this.inflight.length > 0) await this.inflight[0]!.done;
  }

  /** Keeps a script in flight until its reply is handled; its failures are logged (the script itself retries until Redis takes it). */
  push(next: NextBlock, p: Promise<void>): void {
    this.track(next, p.catch((err: unknown) => this.worker.logger.error(`Could not record a job's outcome: ${err instanceof Error ? err.message : String(err)}`)));
  }

  /**
   * An outcome script whose reply the caller awaits itself (no job launched; the caller handles its
   * failure): it counts as in flight too, so that the hold timer does not give back the jobs held
   * ahead while it takes the ones after them.
   */
  awaiting(next: NextBlock, p: Promise<unknown>): void {
    this.track(next, p.then(
      () => undefined,
      () => undefined,
    ));
  }

  /** Lists a script as in flight until `settled` (its reply handled by nextJobFromReply, or its failure handled). */
  private track(next: NextBlock, settled: Promise<void>): void {
    const done = settled.finally(() => {
      this.forget(next);
      this.handling.delete(done);
    });
    this.handling.add(done);
    this.inflight.push({ next, done });
  }

  private forget(next: NextBlock): void {
    const i = this.inflight.findIndex((f) => f.next === next);
    if (i >= 0) this.inflight.splice(i, 1);
  }

  /** Takes the next job with rqTake (and rqClaim when the head was not the peeked id). */
  async take(queues: readonly Queue[]): Promise<Taken> {
    const taken = await this.takeNext(queues);
    this.handedOutAt = performance.now();
    return taken;
  }

  private async takeNext(queues: readonly Queue[]): Promise<Taken> {
    if (this.ahead) {
      const job = this.ahead;
      this.ahead = this.aheadMore.shift() ?? null;
      return { kind: 'job', job };
    }
    if (this.short && this.grouping) {
      if (this.held.length === 0) await this.ready();
      const job = this.runDirect();
      if (job) return { kind: 'job', job };
      // Claimed the usual way from here: what waits is recorded first.
      this.deferred?.flush();
    }
    // A script in flight may claim the next job ahead. With concurrency > 1 the take goes out at once:
    // a job claimed meanwhile waits in `aheadMore` for the next free lane.
    if (this.worker.concurrency === 1) await this.settle();
    if (this.ahead) return this.takeNext(queues);
    // Held but not started (the last outcome script took no next job): back to its queue first, so
    // priorities are looked at afresh.
    await this.releaseHeld();
    let call = this.unanswered;
    if (!call) {
      const now = new Date();
      // Jobs running concurrently: outcome scripts in flight expect the other peeked ids.
      const a = { id: (this.worker.concurrency > 1 ? this.peeks.shift() : this.peeks[0]) ?? '', index: 0 };
      const execId = a.id ? this.newExecution() : '';
      call = { keys: this.nextKeys(queues, a.id, execId), args: { ...this.nextArgs(now, 'claim-head', a, 0, execId, ''), token: this.token() }, now, reads: a.id ? [a.id] : [] };
    }
    this.unanswered = call;
    const sent = call;
    // Sent again as it was until Redis answers: the token makes a repeat after a lost reply a replay.
    const reply = await this.windowed(sent.args.token, () => untilAnswered(this.worker, 'take a job', () => this.send(sent, () => runScript(this.worker.connection, 'rqTake', { next: sent.keys }, sent.args))));
    this.unanswered = null;
    return this.nextJobFromReply(queues, reply, call.now, null, call.args.nextExecId, sent.hashes);
  }

  /**
   * Turns a NEXT reply into the next job: a 'claimed' or 'started' one directly, a 'taken' one by
   * claiming it with rqClaim. `next`: the block of the script in flight this reply answers (its
   * launched job was started without waiting for the reply, which then only confirms it). Keeps the
   * new peeks and the jobs taken ahead. `execId`: the execution id the script claimed its job under;
   * `hashes`: the reads sent behind the script (send()).
   */
  async nextJobFromReply(
    queues: readonly Queue[],
    reply: NextReply,
    now: Date,
    next: NextBlock | null,
    execId = next?.args.nextExecId ?? '',
    hashes = next?.hashes,
  ): Promise<Taken> {
    // Read before the script counts as answered: until the jobs it took are held, the next outcome
    // script must wait for them (ready()) and count them as coming (inflightTakes()).
    const read = new Map<string, JobHash>();
    if (hashes) for (const [id, hash] of hashes) read.set(id, await hash);
    if (next) this.forget(next);
    const launched = next?.launched ?? null;
    if (reply.length === 0) return { kind: 'none' };
    const kind = reply[0]!.toString();
    if (kind === 'suspended' || kind === 'empty') {
      this.peeks = [];
      return { kind };
    }
    const queue = queues[Number(reply[1]) - 1]!;
    const id = reply[2]!.toString();
    if (kind === 'taken') return this.claimTaken(queues, queue, id, now);
    const peeked = 4 + 2 * Number(reply[3]);
    this.setPeeks(reply.slice(peeked) as Buffer[]);
    this.hold(queues, reply.slice(4, peeked), read);
    if (kind === 'ahead') return { kind: 'none' };
    if (kind === 'gone' || kind === 'lost') {
      const reason =
        kind === 'gone' ? 'its hash is gone (deleted)' : 'it was no longer in its intermediate list nor its queue (taken by another worker after a long stall)';
      if (launched) {
        this.worker.logger.warning(`Job ${id} was taken ahead from ${queue.name} and started, but ${reason}`);
        return { kind: 'none' };
      }
      return { kind: 'skipped', queue, id, reason };
    }
    if (launched) return { kind: 'none' };
    const hash = read.get(id);
    // Deleted between the script and the read behind it: as a job deleted before its claim.
    if (!hash) return { kind: 'skipped', queue, id, reason: 'its hash is gone (deleted)' };
    const job = this.build(queue, id, hash);
    // What the script wrote, whichever the read saw (a script Redis had to load again runs after it).
    job.status = 'started';
    job.startedAt = now;
    job.workerName = this.worker.name;
    this.markClaimed(job, queue, now);
    setExecution(job, execId);
    return { kind: 'job', job };
  }

  private async claimTaken(queues: readonly Queue[], queue: Queue, id: string, now: Date): Promise<Taken> {
    const keys = this.worker.keys;
    const execId = this.newExecution();
    const { reply, hash } = await this.claim(queues, queue.name, id, now, execId, true);
    if (typeof reply === 'number') {
      this.peeks = [];
      return { kind: 'skipped', queue, id, reason: reply === 0 ? 'its hash is gone (deleted)' : `${keys.job(id)} is not a hash` };
    }
    this.setPeeks(reply);
    if (!hash) return { kind: 'skipped', queue, id, reason: 'its hash is gone (deleted)' };
    const job = this.build(queue, id, hash);
    job.status = 'started';
    job.startedAt = now;
    job.workerName = this.worker.name;
    this.markClaimed(job, queue, now);
    setExecution(job, execId);
    return { kind: 'job', job };
  }

  /**
   * How many queue heads a script's reply lists. One worker running one job at a time needs two: the
   * next claim's and the hash read ahead. Jobs running concurrently each claim the next head in their
   * outcome script, several in flight at once: each needs its own id, the one that will be at the head
   * when its script runs (after the scripts sent before it took theirs), or it takes the job in a
   * second round trip (rqClaim).
   */
  private peekCount(): number {
    const c = this.worker.concurrency;
    // Group commit takes up to BATCHES_AHEAD batches ahead, and reads their hashes behind its call.
    if (c === 1) return this.grouping ? Math.max(2, BATCHES_AHEAD * this.worker.batch) : 2;
    return Math.min(c + 1, 101);
  }

  /**
   * The heads a reply lists, less those that scripts still in flight (sent after it, so run after it)
   * will claim: what the next script sent should expect.
   */
  private setPeeks(ids: Buffer[] | undefined): void {
    const heads = Array.isArray(ids) ? ids.map((id) => id.toString()) : [];
    if (this.worker.concurrency === 1 || this.inflight.length === 0) {
      this.peeks = heads;
      return;
    }
    const claiming = new Set<string>();
    for (const f of this.inflight) if (f.next.args.nextMode === 'claim-head' && f.next.args.nextId) claiming.add(f.next.args.nextId);
    this.peeks = heads.filter((id) => !claiming.has(id));
  }

  /** Keeps the jobs a script took ahead, and gives them back if the current job outlasts HOLD_MS. */
  /** `ahead`: the jobs taken ahead, as queue (1..n), id, queue, id, ... */
  private hold(queues: readonly Queue[], ahead: NextReply, read: Map<string, JobHash>): void {
    if (ahead.length === 0) return;
    const from = this.held.length;
    for (let j = 0; j + 1 < ahead.length; j += 2) {
      const index = Number(ahead[j]);
      const queue = queues[index - 1]!;
      const id = ahead[j + 1]!.toString();
      const hash = read.get(id);
      this.held.push({ queue, index, id, job: hash ? this.build(queue, id, hash) : null, orphaned: hash?.[ORPHANED_FIELD] !== undefined });
    }
    // Only a horse has a log: a SimpleWorker builds no list for it.
    if (this.log) this.log.took(this.held.slice(from).flatMap((h) => [h.queue.name, h.id]));
    this.armHoldTimer();
  }

  private armHoldTimer(): void {
    this.stopHoldTimer();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      // A script in flight is taking the jobs after these: given back now, these would come after them.
      if (this.inflightTakes() > 0) this.armHoldTimer();
      else void this.releaseHeld().catch(() => {});
    }, HOLD_MS);
    this.holdTimer.unref();
  }

  private stopHoldTimer(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  private build(queue: Queue, id: string, hash: Record<string, Buffer>): Job {
    const w = this.worker;
    const options = { connection: w.connection, serializer: w.serializer };
    let job: Job;
    try {
      job = queue.jobClass.fromHash(id, hash, options);
    } catch {
      // A hash that is not a job (no `data`): it is registered now, so it fails like any bad job.
      job = new queue.jobClass(id, options);
    }
    if (!job.origin) job.origin = queue.name;
    return job;
  }

  private markClaimed(job: Job, queue: Queue, now: Date): void {
    claimedFrom.set(job, queue.name);
    this.taken.add(job);
    this.worker.state = 'busy';
    this.worker.lastHeartbeat = now;
  }

  /**
   * rqClaim: registers `id`, taken into `queueName`'s intermediate list, as started by this worker
   * (under `execId`, protocol 2); with `read`, also reads its hash right behind the script.
   */
  private async claim(queues: readonly Queue[], queueName: string, id: string, at: Date, execId: string, read = false): Promise<{ reply: ScriptReply<'rqClaim'>; hash: JobHash }> {
    const w = this.worker;
    const keys = w.keys;
    const scriptKeys = {
      intermediate: keys.intermediate(queueName),
      job: keys.job(id),
      wip: keys.started(queueName),
      worker: w.key,
      ...executionKeys(keys, id, execId),
      queues: queues.map((q) => q.key),
    };
    const call: HashReads = { reads: read ? [id] : [] };
    // Until Redis answers: the id waits in its intermediate list meanwhile, and a repeat after a lost
    // reply claims it again for this same worker (the same registration).
    const reply = await untilAnswered(w, `record the start of job ${id}`, () =>
      this.send(call, () =>
        runScript(w.connection, 'rqClaim', scriptKeys, {
          id,
          claimedAt: utcformat(at),
          jobMonitoringInterval: w.jobMonitoringInterval,
          workerName: w.name,
          claimMode: this.mode,
          execId,
          peekCount: this.peekCount(),
        }),
      ),
    );
    return { reply, hash: (await call.hashes?.get(id)) ?? null };
  }

  /** Registers a launched job whose starting script was refused (rqClaim): it runs already. */
  private async startLaunched(job: Job): Promise<void> {
    const w = this.worker;
    try {
      // Under the execution id its refused starting script carried: the one its outcome will end.
      await this.claim(w.queues, claimedQueueOf(job, w.queueNames[0]!), job.id, job.startedAt ?? new Date(), executionOf(job));
    } catch (err) {
      w.logger.error(`Could not register job ${job.id} as started (maintenance will requeue it): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Keeps a job claimed by an outcome script for the next dequeue. */
  holdAhead(job: Job): void {
    if (this.ahead && this.worker.concurrency > 1) this.aheadMore.push(job);
    else this.ahead = job;
  }

  /**
   * Gives back the jobs held ahead (not started) to the heads of their queues, last first so that
   * they keep their order (the calls go out in that order on one connection).
   */
  private async releaseHeld(): Promise<void> {
    const held = this.held.reverse();
    this.held = [];
    this.stopHoldTimer();
    await this.giveBackOrLog(held);
  }

  /** Takes a launched job out of its intermediate list: its start was refused, its outcome is recorded already. */
  private async unlist(job: Job): Promise<void> {
    const w = this.worker;
    try {
      await untilAnswered(w, `take job ${job.id} out of its intermediate list`, () => w.connection.lrem(w.keys.intermediate(claimedQueueOf(job, w.queueNames[0]!)), 1, job.id));
    } catch (err) {
      w.logger.error(`Could not take job ${job.id} out of its intermediate list: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * Gives back jobs held ahead, in this order (the calls go out in it on one connection), where nobody
   * waits for it: a failure leaves the id in the intermediate list, for maintenance.
   */
  private async giveBackOrLog(held: Held[]): Promise<void> {
    if (held.length === 0) return;
    await Promise.all(
      held.map(async (h) => {
        try {
          await giveBack(this.worker, h.queue.name, h.id);
        } catch (err) {
          this.worker.logger.warning(`Could not give back job ${h.id} taken ahead (maintenance will): ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    // Logged once given back: a horse that dies before has its worker give them back (again: idempotent).
    // With the last call sent: a call after it that took one again (its reply lost with the horse) counts.
    this.log?.released(held.map((h) => h.id), this.seq);
  }

  /**
   * The worker stops: waits for the outcome script in flight, then gives back what will not run —
   * the job held ahead, then the one claimed ahead — to the head of their queues, in their order.
   */
  async release(): Promise<void> {
    this.deferred?.flush();
    await this.settle();
    // A take whose reply was lost may have claimed a job: its replay says which, and it goes back too.
    if (this.unanswered) {
      const taken = await this.take(this.worker.queues);
      if (taken.kind === 'job') this.ahead = taken.job;
    }
    await this.releaseHeld();
    // The last claimed goes back first, so that they keep their order at the head of their queues.
    const claimed = this.ahead ? [this.ahead, ...this.aheadMore.splice(0)] : [];
    this.ahead = null;
    const w = this.worker;
    for (const job of claimed.reverse()) {
      const queue = claimedQueueOf(job, w.queueNames[0]!);
      const execId = executionOf(job);
      await untilAnswered(w, `put job ${job.id} back on ${queue}`, () =>
        runScript(
          w.connection,
          'rqUnclaim',
          {
            job: job.key,
            wip: w.keys.started(queue),
            queue: w.keys.queue(queue),
            worker: w.key,
            ...executionKeys(w.keys, job.id, execId),
          },
          { id: job.id, execId },
        ),
      );
    }
  }
}
