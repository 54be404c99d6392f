import { randomUUID } from 'node:crypto';
import type { Job } from './Job.js';
import type { Queue } from './Queue.js';
import { runScript, runScriptBuffer } from './redis/scripts.js';
import { epochSeconds, utcformat } from './time.js';
import type { Worker } from './Worker.js';

/** What taking the next job came to (the NEXT block of rqTake, rqFinish and rqFail). */
export type Taken =
  | { kind: 'suspended' }
  | { kind: 'empty' }
  | { kind: 'none' }
  | { kind: 'skipped'; queue: Queue; id: string; reason: string }
  | { kind: 'job'; job: Job };

/** The NEXT block's mode: '0' none, '1' claim the head, '2' start the job held ahead, '3' the same and return its hash. */
export type NextMode = '0' | '1' | '2' | '3';

/**
 * How long a job taken ahead may wait while the current one runs. Past this it goes back to the
 * head of its queue, so another worker can have it: taking ahead pays off for short jobs only, and
 * must never keep a job from an idle worker for long (nor reach maintenance's 60 s grace for ids in
 * intermediate lists).
 */
export const HOLD_MS = 10;

const claimedFrom = new WeakMap<Job, string>();

/**
 * The queue a job was claimed from: its StartedJobRegistry entry is there, whatever its `origin`
 * field says (a hand-written hash may name another queue).
 */
export function claimedQueueOf(job: Job, fallback: string): string {
  return claimedFrom.get(job) ?? job.origin ?? fallback;
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v));

/** The NEXT block of an outcome script, and what it starts: a launched job, a held one. */
export interface NextBlock {
  keys: string[];
  args: (string | number)[];
  launched: Job | null;
  held: Held | null;
}

interface Held {
  queue: Queue;
  index: number;
  id: string;
  /** Built from the hash read when it was taken; null when the script could not read it. */
  job: Job | null;
}

/**
 * Per-worker state of job claiming, shared by the dequeue and cleanup stages so that the script
 * that records a job's outcome also gets the next one (one round trip per job while busy):
 * - `peek`: the head id seen after the last script, so the next script can read its hash;
 * - `ahead`: a job already claimed (or started) for the next dequeue;
 * - `held`: a job taken ahead into its intermediate list, not started. The outcome script of the
 *   current job starts it, and the worker runs it without waiting for that script's reply (the
 *   script is `pending` meanwhile): Redis records one job while the next one runs.
 */
export class Claims {
  private static readonly byWorker = new WeakMap<Worker, Claims>();

  static of(worker: Worker): Claims {
    let c = Claims.byWorker.get(worker);
    if (!c) {
      c = new Claims(worker);
      Claims.byWorker.set(worker, c);
    }
    return c;
  }

  private peek: { index: number; id: string } | null = null;
  private ahead: Job | null = null;
  private held: Held | null = null;
  private holdTimer: NodeJS.Timeout | null = null;
  private pending: Promise<void> | null = null;
  /** The take whose reply never came (a dropped connection): sent again as it was, so that Redis replays it. */
  private unanswered: { keys: string[]; args: (string | number)[]; now: Date } | null = null;
  private readonly tokenPrefix = randomUUID().slice(0, 8);
  private seq = 0;

  private constructor(private readonly worker: Worker) {}

  /** A token for one logical script call (all its attempts), for the scripts' replay check. */
  token(): string {
    return `${this.tokenPrefix}-${++this.seq}`;
  }

  /** How the claim scripts compute the heartbeat TTL: as `worker.heartbeatTtl` does. */
  get mode(): 'inline' | 'process' {
    return this.worker.claimMode;
  }

  /**
   * The NEXT block of an outcome script (rqFinish, rqFail): none when the worker will not run
   * another job, else claim the head (mode '1') or start the job held ahead ('2'; '3' when its data
   * is not known yet). A held job whose data is known is launched: the next dequeue returns it at
   * once, while the script that starts it is in flight.
   */
  next(takeNext: boolean, takeAhead: boolean, now: Date): NextBlock {
    const mode: NextMode = !takeNext ? '0' : !this.held ? '1' : this.held.job ? '2' : '3';
    if (mode === '0') return { keys: [], args: ['0', '', '', '', '', '', '', '', '', ''], launched: null, held: null };
    const keys = this.nextKeys(this.worker.queues, mode);
    const args = this.nextArgs(now, mode, takeAhead);
    const held = this.held;
    this.dropHeld();
    if (mode !== '2' || !held) return { keys, args, launched: null, held };
    const job = held.job!;
    job.status = 'started';
    job.startedAt = now;
    job.workerName = this.worker.name;
    this.markClaimed(job, held.queue, now);
    this.ahead = job;
    return { keys, args, launched: job, held };
  }

  /**
   * Redis refused an outcome script (an error reply: it wrote nothing), so its NEXT block did not run
   * either: a launched job, which runs already, is registered now; a held one goes back to its queue.
   */
  async refused(next: NextBlock): Promise<void> {
    if (next.launched) await this.startLaunched(next.launched);
    else if (next.held) await this.giveBackOrLog(next.held);
  }

  /** KEYS of the NEXT block for `queues`. */
  private nextKeys(queues: readonly Queue[], mode: NextMode): string[] {
    const w = this.worker;
    const keys = w.keys;
    const none = keys.job('-');
    const peeked = this.peek ? keys.job(this.peek.id) : none;
    const held = mode === '2' || mode === '3' ? this.held : null;
    return [
      keys.suspended,
      w.key,
      held ? keys.job(held.id) : peeked,
      held ? peeked : none,
      ...queues.map((q) => q.key),
      ...queues.map((q) => keys.intermediate(q.name)),
      ...queues.map((q) => keys.started(q.name)),
    ];
  }

  /** ARGV of the NEXT block. `ahead`: also take the job after the next one into an intermediate list. */
  private nextArgs(now: Date, mode: NextMode, ahead: boolean): (string | number)[] {
    const w = this.worker;
    const held = mode === '2' || mode === '3' ? this.held : null;
    const peekId = this.peek?.id ?? '';
    return [
      mode,
      held ? held.id : peekId,
      held ? held.index : 0,
      held ? peekId : '',
      utcformat(now),
      epochSeconds(now),
      w.jobMonitoringInterval,
      w.name,
      this.mode,
      ahead ? '1' : '0',
    ];
  }

  /** Waits for the outcome script in flight, if any (its reply decides what is held ahead). */
  async settle(): Promise<void> {
    while (this.pending) {
      const p = this.pending;
      await p;
      if (this.pending === p) this.pending = null;
    }
  }

  /** Keeps the outcome script in flight; its failures are logged (the script itself retries until Redis takes it). */
  setPending(p: Promise<void>): void {
    this.pending = p.catch((err: unknown) => this.worker.logger.error(`Could not record a job's outcome: ${err instanceof Error ? err.message : String(err)}`));
  }

  /** Takes the next job with rqTake (and rqClaim when the head was not the peeked id). */
  async take(queues: readonly Queue[]): Promise<Taken> {
    if (this.ahead) {
      const job = this.ahead;
      this.ahead = null;
      return { kind: 'job', job };
    }
    await this.settle();
    if (this.ahead) return this.take(queues);
    // Held but not started (the last outcome script took no next job): back to its queue first, so
    // priorities are looked at afresh.
    await this.releaseHeld();
    let call = this.unanswered;
    if (!call) {
      const now = new Date();
      call = { keys: this.nextKeys(queues, '1'), args: [...this.nextArgs(now, '1', false), this.token()], now };
    }
    this.unanswered = call;
    const reply = await runScriptBuffer(this.worker.connection, 'rqTake', call.keys, call.args);
    this.unanswered = null;
    return this.absorb(queues, reply as unknown[], call.now, null);
  }

  /**
   * Turns a NEXT reply into the next job: a 'claimed' or 'started' one directly, a 'taken' one by
   * claiming it with rqClaim. `launched`: the job that was started without waiting for this reply
   * (then the reply only confirms it). Keeps the new peek and the job held ahead.
   */
  async absorb(queues: readonly Queue[], reply: unknown[] | null, now: Date, launched: Job | null): Promise<Taken> {
    if (!reply) return { kind: 'none' };
    const kind = text(reply[0]);
    if (kind === 'suspended' || kind === 'empty') {
      this.peek = null;
      return { kind };
    }
    const queue = queues[Number(reply[1]) - 1]!;
    const id = text(reply[2]);
    if (kind === 'taken') return this.claimTaken(queues, queue, id, now);
    this.setPeek(reply[5], reply[6]);
    this.hold(queues, reply[7]);
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
    const job = this.build(queue, id, reply[4] as Buffer[]);
    this.markClaimed(job, queue, now);
    return { kind: 'job', job };
  }

  private async claimTaken(queues: readonly Queue[], queue: Queue, id: string, now: Date): Promise<Taken> {
    const keys = this.worker.keys;
    const reply = (await this.claim(queues, queue.name, id, now)) as number | unknown[];
    if (typeof reply === 'number') {
      this.peek = null;
      return { kind: 'skipped', queue, id, reason: reply === 0 ? 'its hash is gone (deleted)' : `${keys.job(id)} is not a hash` };
    }
    this.setPeek(reply[2], reply[3]);
    const job = this.build(queue, id, reply[1] as Buffer[]);
    this.markClaimed(job, queue, now);
    return { kind: 'job', job };
  }

  private setPeek(index: unknown, id: unknown): void {
    this.peek = index === null || index === undefined || id === null || id === undefined ? null : { index: Number(index), id: text(id) };
  }

  /** Keeps the job a script took ahead, and gives it back if the current job outlasts HOLD_MS. */
  private hold(queues: readonly Queue[], ahead: unknown): void {
    if (!Array.isArray(ahead)) return;
    const queue = queues[Number(ahead[1]) - 1]!;
    const id = text(ahead[2]);
    this.held = { queue, index: Number(ahead[1]), id, job: Array.isArray(ahead[3]) ? this.build(queue, id, ahead[3] as Buffer[]) : null };
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      const held = this.held;
      this.dropHeld();
      if (held) void this.giveBackOrLog(held);
    }, HOLD_MS);
    this.holdTimer.unref();
  }

  private dropHeld(): void {
    this.held = null;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
  }

  private build(queue: Queue, id: string, flat: Buffer[]): Job {
    const w = this.worker;
    const hash: Record<string, Buffer> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) hash[flat[i]!.toString()] = flat[i + 1]!;
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
    this.worker.state = 'busy';
    this.worker.lastHeartbeat = now;
  }

  /** rqClaim: registers `id`, taken into `queueName`'s intermediate list, as started by this worker. */
  private claim(queues: readonly Queue[], queueName: string, id: string, at: Date): Promise<unknown> {
    const w = this.worker;
    const keys = w.keys;
    return runScriptBuffer(
      w.connection,
      'rqClaim',
      [keys.intermediate(queueName), keys.job(id), keys.started(queueName), w.key, ...queues.map((q) => q.key)],
      [id, utcformat(at), epochSeconds(at), w.jobMonitoringInterval, w.name, this.mode],
    );
  }

  /** Registers a launched job whose starting script was refused (rqClaim): it runs already. */
  private async startLaunched(job: Job): Promise<void> {
    const w = this.worker;
    try {
      await this.claim(w.queues, claimedQueueOf(job, w.queueNames[0]!), job.id, job.startedAt ?? new Date());
    } catch (err) {
      w.logger.error(`Could not register job ${job.id} as started (maintenance will requeue it): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Keeps a job claimed by an outcome script for the next dequeue. */
  holdAhead(job: Job): void {
    this.ahead = job;
  }

  /** Gives back the job held ahead (not started): to the head of its queue. */
  private async releaseHeld(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.dropHeld();
    await this.giveBack(held);
  }

  private async giveBack(held: Held): Promise<void> {
    const keys = this.worker.keys;
    await runScript(this.worker.connection, 'rqRelease', [keys.intermediate(held.queue.name), held.queue.key], [held.id]);
  }

  /** giveBack where nobody waits for it: a failure leaves the id in the intermediate list, for maintenance. */
  private async giveBackOrLog(held: Held): Promise<void> {
    try {
      await this.giveBack(held);
    } catch (err) {
      this.worker.logger.warning(`Could not give back job ${held.id} taken ahead (maintenance will): ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /**
   * The worker stops: waits for the outcome script in flight, then gives back what will not run —
   * the job held ahead, then the one claimed ahead — to the head of their queues, in their order.
   */
  async release(): Promise<void> {
    await this.settle();
    // A take whose reply was lost may have claimed a job: its replay says which, and it goes back too.
    if (this.unanswered) {
      const taken = await this.take(this.worker.queues);
      if (taken.kind === 'job') this.ahead = taken.job;
    }
    await this.releaseHeld();
    const job = this.ahead;
    this.ahead = null;
    if (!job) return;
    const w = this.worker;
    const queue = claimedQueueOf(job, w.queueNames[0]!);
    await runScript(w.connection, 'rqUnclaim', [job.key, w.keys.started(queue), w.keys.queue(queue), w.key], [job.id]);
  }
}
