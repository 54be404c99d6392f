import type { Job } from './Job.js';
import type { Queue } from './Queue.js';
import { runScript, runScriptBuffer } from './redis/scripts.js';
import { epochSeconds, utcformat } from './time.js';
import type { Worker } from './Worker.js';

/** What taking the next job came to (the NEXT block of rqTake, rqFinish and rqFail). */
export type Taken =
  | { kind: 'suspended' }
  | { kind: 'empty' }
  | { kind: 'skipped'; queue: Queue; id: string; reason: string }
  | { kind: 'job'; job: Job };

const claimedFrom = new WeakMap<Job, string>();

/**
 * The queue a job was claimed from: its StartedJobRegistry entry is there, whatever its `origin`
 * field says (a hand-written hash may name another queue).
 */
export function claimedQueueOf(job: Job, fallback: string): string {
  return claimedFrom.get(job) ?? job.origin ?? fallback;
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString() : String(v));

/**
 * Per-worker state of job claiming, shared by the dequeue and cleanup stages so that the script
 * that records a job's outcome can also claim the next one (one round trip per job while busy):
 * the id seen at the head of the queues after the last claim (`peek`), and a job claimed ahead.
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

  /** The head id seen after the last claim, and its queue's index in `worker.queues`. */
  private peek: { index: number; id: string } | null = null;
  /** A job claimed by the cleanup of the previous one, to be returned by the next dequeue. */
  private ahead: Job | null = null;

  private constructor(private readonly worker: Worker) {}

  /** How the claim scripts compute the heartbeat TTL: as `worker.heartbeatTtl` does. */
  get mode(): 'inline' | 'process' {
    return this.worker.claimMode;
  }

  /** KEYS of the NEXT block for `queues`. */
  nextKeys(queues: readonly Queue[]): string[] {
    const w = this.worker;
    const keys = w.keys;
    const peekedJob = this.peek ? keys.job(this.peek.id) : keys.job('-');
    return [
      keys.suspended,
      w.key,
      peekedJob,
      ...queues.map((q) => q.key),
      ...queues.map((q) => keys.intermediate(q.name)),
      ...queues.map((q) => keys.started(q.name)),
    ];
  }

  /** ARGV of the NEXT block. */
  nextArgs(now: Date): (string | number)[] {
    const w = this.worker;
    return [this.peek?.id ?? '', utcformat(now), epochSeconds(now), w.jobMonitoringInterval, w.name, this.mode];
  }

  /** Takes the next job with rqTake (and rqClaim when the head was not the peeked id). */
  async take(queues: readonly Queue[]): Promise<Taken> {
    if (this.ahead) {
      const job = this.ahead;
      this.ahead = null;
      return { kind: 'job', job };
    }
    const now = new Date();
    const reply = await runScriptBuffer(this.worker.connection, 'rqTake', this.nextKeys(queues), this.nextArgs(now));
    return this.absorb(queues, reply as unknown[], now);
  }

  /**
   * Turns a NEXT reply into a job: a 'claimed' one directly, a 'taken' one by claiming it with
   * rqClaim. Keeps the new peek.
   */
  async absorb(queues: readonly Queue[], reply: unknown[], now: Date): Promise<Taken> {
    const kind = text(reply[0]);
    if (kind === 'suspended' || kind === 'empty') {
      this.peek = null;
      return { kind };
    }
    const queue = queues[Number(reply[1]) - 1]!;
    const id = text(reply[2]);
    if (kind === 'claimed') {
      this.setPeek(reply[5], reply[6]);
      return { kind: 'job', job: this.build(queue, id, reply[4] as Buffer[], now) };
    }
    return this.claimTaken(queues, queue, id, now);
  }

  private async claimTaken(queues: readonly Queue[], queue: Queue, id: string, now: Date): Promise<Taken> {
    const w = this.worker;
    const keys = w.keys;
    const reply = (await runScriptBuffer(
      w.connection,
      'rqClaim',
      [keys.intermediate(queue.name), keys.job(id), keys.started(queue.name), w.key, ...queues.map((q) => q.key)],
      [id, utcformat(now), epochSeconds(now), w.jobMonitoringInterval, w.name, this.mode],
    )) as number | unknown[];
    if (typeof reply === 'number') {
      this.peek = null;
      return { kind: 'skipped', queue, id, reason: reply === 0 ? 'its hash is gone (deleted)' : `${keys.job(id)} is not a hash` };
    }
    this.setPeek(reply[2], reply[3]);
    return { kind: 'job', job: this.build(queue, id, reply[1] as Buffer[], now) };
  }

  private setPeek(index: unknown, id: unknown): void {
    this.peek = index === null || index === undefined || id === null || id === undefined ? null : { index: Number(index), id: text(id) };
  }

  private build(queue: Queue, id: string, flat: Buffer[], now: Date): Job {
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
    claimedFrom.set(job, queue.name);
    w.state = 'busy';
    w.lastHeartbeat = now;
    return job;
  }

  /** Keeps a job claimed by a cleanup script for the next dequeue. */
  holdAhead(job: Job): void {
    this.ahead = job;
  }

  /** Gives back a job claimed ahead that will not run (the worker stops): to the head of its queue. */
  async release(): Promise<void> {
    const job = this.ahead;
    this.ahead = null;
    if (!job) return;
    const w = this.worker;
    const queue = claimedQueueOf(job, w.queueNames[0]!);
    await runScript(w.connection, 'rqUnclaim', [job.key, w.keys.started(queue), w.keys.queue(queue), w.key], [job.id]);
  }
}
