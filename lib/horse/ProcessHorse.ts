import type { ChildProcess } from 'node:child_process';
import type { Redis } from 'ioredis';
import { constants } from 'node:os';
import { RqError } from '../errors/RqError.js';
import type { Horse, Outcome } from '../hooks.js';
import { DEFAULT_TIMEOUT, type Job } from '../Job.js';
import { JobTimeoutException } from '../timeouts/JobTimeoutException.js';
import type { Worker } from '../Worker.js';
import { horseConnectionName, type FromHorse, type HorseSpec, type LoopReport, type ToHorse, type WireOutcome } from './protocol.js';
import { failedOutcome } from './runJob.js';
import { forkHorse, logOf, takeEarlyHorse } from './fork.js';
import { closeLogFile, readDirectLog, type HorseLog } from '../DirectLog.js';

/** rq's text for a horse that died mid-job; `waitpid returned` is the raw wait status as in Python. */
export function terminatedText(code: number | null, signal: NodeJS.Signals | null): string {
  const signum = signal ? (constants.signals[signal] ?? 0) : 0;
  const status = signal ? signum : (code ?? 0) * 256;
  return `Work-horse terminated unexpectedly; waitpid returned ${status}${signal ? ` (signal ${signum})` : ''}; `;
}

/**
 * The work horse: a child process that has loaded the config, plugins and preloaded modules once
 * and then runs jobs one at a time, sent over IPC. The worker replaces it after a crash, a timeout,
 * `maxJobs` jobs or `maxMemoryMb`. It runs in its own process group, like rq's setsid'd horse, so a
 * Ctrl-C in the terminal reaches the worker (warm shutdown) and not the job.
 */
export class ProcessHorse implements Horse {
  readonly pid: number;
  jobsDone = 0;
  /** Resident memory after the last job, in bytes (null unless the spec asked for it). */
  rss: number | null = null;
  private current: { id: string; resolve: (o: Outcome) => void } | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private killReason: string | null = null;
  private report: LoopReport | null = null;
  readonly exited: Promise<void>;
  /** The horse has exited and every message it sent has been read (its IPC channel closed). */
  private readonly gone: Promise<void>;

  /** The worker's fd of the horse's log of the jobs it runs directly (lib/DirectLog.ts), until closeLog(). */
  private log: number | null;
  /** The horse runs a loop: its log is read after it ends (HorseSupervisor), then closed. */
  private looping = false;

  private constructor(private readonly child: ChildProcess) {
    this.pid = child.pid ?? 0;
    this.log = logOf(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        if (!this.looping) this.closeLog();
        const current = this.current;
        this.current = null;
        current?.resolve(
          failedOutcome(new RqError(this.killReason ? `${terminatedText(code, signal)}${this.killReason}` : terminatedText(code, signal))),
        );
        resolve();
      });
    });
    this.gone = Promise.all([
      this.exited,
      child.connected ? new Promise<void>((resolve) => child.once('disconnect', () => resolve())) : Promise.resolve(),
    ]).then(() => undefined);
    child.on('message', (msg: FromHorse) => {
      if (msg.t === 'looped') this.report = msg;
      if (msg.t !== 'done' || !this.current || this.current.id !== msg.id) return;
      const current = this.current;
      this.current = null;
      this.rss = msg.rss;
      this.jobsDone++;
      current.resolve(fromWire(msg.outcome));
    });
    // An IPC write to a horse that just died fails; its exit handler reports the job.
    child.on('error', () => {});
  }

  /** Starts a horse and waits until it has loaded everything (or fails with the reason). */
  static async start(spec: HorseSpec, options: { execArgv?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessHorse> {
    const execArgv = options.execArgv ?? [];
    const env = options.env ?? process.env;
    // `rq worker` forks its first horse before it loads anything (lib/horse/fork.ts).
    const child = takeEarlyHorse(spec.cwd, execArgv, env) ?? forkHorse(spec.cwd, execArgv, env);
    const horse = new ProcessHorse(child);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromHorse): void => {
        if (msg.t === 'ready') {
          cleanup();
          resolve();
        } else if (msg.t === 'init-error') {
          cleanup();
          child.kill('SIGKILL');
          reject(new RqError(`The work horse could not start: ${msg.message}`));
        }
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        reject(new RqError(`The work horse exited while starting (${signal ?? `code ${code}`})`));
      };
      const cleanup = (): void => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ t: 'init', spec } satisfies ToHorse);
    });
    return horse;
  }

  /** False from the moment it is killed: its 'exit' event may only arrive after the worker has moved on. */
  get alive(): boolean {
    return this.exit === null && this.killReason === null;
  }

  /** Runs the job in the horse under the worker's death penalty. */
  async perform(job: Job, worker: Worker): Promise<Outcome> {
    const penalty = new worker.deathPenaltyClass(job.timeout ?? DEFAULT_TIMEOUT, JobTimeoutException, { jobId: job.id });
    try {
      return await penalty.run(
        () => this.send(job),
        (reason) => this.kill(reason.message),
      );
    } catch (err) {
      return failedOutcome(err);
    }
  }

  private send(job: Job): Promise<Outcome> {
    if (!this.alive) return Promise.resolve(failedOutcome(new RqError(terminatedText(this.exit?.code ?? null, this.exit?.signal ?? null))));
    if (this.current) return Promise.reject(new RqError(`The work horse is already running job ${this.current.id}`));
    return new Promise<Outcome>((resolve) => {
      this.current = { id: job.id, resolve };
      this.killReason = null;
      this.child.send({ t: 'job', id: job.id, hash: job.toHash() } satisfies ToHorse);
    });
  }

  /**
   * Lets a horse started with `spec.loop` take, run and record jobs until its loop ends (burst done,
   * `maxJobs` jobs, stopLoop(), or a reason to replace it); the horse exits after it. Resolves with
   * its report, or with rq's text for a horse that died (and the kill reason, if it was killed).
   */
  async loop(burst: boolean, maxJobs: number | null, group: boolean): Promise<{ report: LoopReport } | { died: string; killReason: string | null }> {
    this.looping = true;
    if (this.alive) this.child.send({ t: 'loop', burst, maxJobs, log: group && this.log !== null } satisfies ToHorse);
    await this.gone;
    if (this.report) return { report: this.report };
    const { code = null, signal = null } = this.exit ?? {};
    return { died: `${terminatedText(code, signal)}${this.killReason ?? ''}`, killReason: this.killReason };
  }

  /** What the horse's log says of the jobs it ran directly (read once it has died). */
  readLog(): HorseLog {
    return this.log === null ? { finished: [], running: null, held: [], released: new Map() } : readDirectLog(this.log);
  }

  /** Closes the worker's fd of the horse's log: the file, unlinked since its creation, goes with it. */
  closeLog(): void {
    if (this.log !== null) closeLogFile(this.log);
    this.log = null;
  }

  /** Asks a looping horse to finish its current job and end its loop (warm shutdown). */
  stopLoop(): void {
    if (this.alive && this.child.connected) this.child.send({ t: 'stop' } satisfies ToHorse);
  }

  /**
   * Once the horse has died: waits (up to `timeoutMs`) until Redis has closed its connections, so that
   * every command it sent before dying has run before the worker reads what it left. Redis reads a
   * connection's last commands before it sees the connection close. Without CLIENT LIST (an ACL that
   * denies it) it does not wait.
   */
  async released(connection: Redis, timeoutMs = 2000): Promise<void> {
    const mine = new RegExp(`\\bname=${horseConnectionName(this.pid)}(\\s|$)`, 'm');
    const deadline = Date.now() + timeoutMs;
    try {
      while (mine.test(String(await connection.call('CLIENT', 'LIST', 'TYPE', 'normal'))) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 5));
      }
    } catch {
      // CLIENT denied: the worker's reads come later than the horse's writes in nearly every case
    }
  }

  /** Once the horse has exited: kills what is left of its process group (processes its jobs started). */
  endGroup(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // nothing left in the group
    }
  }

  /** Kills the horse and everything it started (its process group), at once. */
  kill(reason: string): void {
    if (!this.alive) return;
    this.killReason = reason;
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }

  /** Asks an idle horse to exit; kills it if it has not within `graceMs`. */
  async retire(graceMs = 2000): Promise<void> {
    if (!this.alive) return;
    if (this.child.connected) this.child.send({ t: 'exit' } satisfies ToHorse);
    const timer = setTimeout(() => this.kill('retired'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

function fromWire(w: WireOutcome): Outcome {
  if (w.status === 'finished') {
    return { status: 'finished', returnValue: undefined, serialized: w.serialized ? Buffer.from(w.serialized) : null, endedAt: new Date() };
  }
  const error = new Error(w.message);
  error.name = w.name;
  error.stack = w.excString;
  return { status: 'failed', error, excString: w.excString, endedAt: new Date() };
}
