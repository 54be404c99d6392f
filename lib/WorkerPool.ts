import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Logger } from './logging.js';
import type { Worker } from './Worker.js';

/** Set in each pool worker's environment (to the pool's name): the worker reports to the pool over IPC. */
export const POOL_ENV = 'RQ_WORKER_POOL';
/** The message a pool worker sends once it is registered in Redis. */
const REGISTERED = 'rq-pool:registered';

/**
 * In a worker started by a pool: say when it is registered (a worker that dies before that failed to
 * start, and the pool gives up after a few in a row), and stop warm when the pool is gone (its IPC
 * channel closes when it dies, even by SIGKILL), so no worker outlives its supervisor unseen.
 */
export function reportToPool(worker: Worker): void {
  // Stage 200: after every register tap (the hash is written, the scheduler and maintenance started).
  worker.hooks.register.tapPromise({ name: 'WorkerPool', stage: 200 }, async () => {
    // The pool may have died meanwhile: a send on the closed channel would be an 'error' event on
    // process, which nothing handles, and the worker would die registered. With a callback the error
    // goes there instead; the channel's 'disconnect' stops the worker.
    if (process.connected) process.send?.(REGISTERED, undefined, {}, () => {});
  });
  let told = false;
  const poolGone = (): void => {
    if (told) return;
    told = true;
    process.kill(process.pid, 'SIGTERM');
  };
  // A pool that died while this worker was starting closed the channel before anyone listened for
  // 'disconnect': stop now. setImmediate: the signal must come once work() listens for it (it does so
  // before its first await), else SIGTERM's default action would end the worker cold.
  if (!process.connected) setImmediate(poolGone);
  else process.once('disconnect', poolGone);
  // stderr is a pipe to the pool (stdout may be one to whatever read the pool's): once the pool is
  // gone, a log line must not end the worker with EPIPE before it has stopped and registered its death.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE') throw err;
    });
  }
  // The channel must not keep a worker alive that has stopped.
  process.channel?.unref();
}

export interface WorkerPoolOptions {
  /** How many workers run at once (rq's `--num-workers`). */
  numWorkers: number;
  /** The arguments of `rq worker` each worker gets (queues and flags); the pool adds `--name`. */
  workerArgs: readonly string[];
  /** Burst: the workers are not replaced, and the pool exits once all have (rq 2.x's pool). */
  burst?: boolean;
  logger: Logger;
  /** Wait before replacing a dead worker (ms). */
  restartDelayMs?: number;
  /** Workers in a row that die before registering, after which the pool gives up. */
  maxStartFailures?: number;
}

interface PoolWorker {
  readonly name: string;
  readonly child: ChildProcess;
  registered: boolean;
  /** The last lines it wrote to stderr, for the pool's message when it gives up. */
  stderrTail: string[];
}

/** `rq` itself: the pool's workers are `rq worker` processes, started as the user would. */
const RQ_MAIN = fileURLToPath(new URL('./cli/main.js', import.meta.url));
/** A hex name without dashes, as rq 2.x's pool names its workers (uuid4().hex). */
const hexName = (): string => randomUUID().replaceAll('-', '');

/**
 * rq 2.x's WorkerPool: N `rq worker` child processes under one supervisor. A worker that dies is
 * replaced after a second; SIGINT/SIGTERM to the pool stops all of them warm, a second signal cold.
 * Each worker runs in its own process group, so a terminal's Ctrl-C reaches the pool only and the
 * shutdown is the pool's one decision (rq 2.x forks its workers; here they are separate node
 * processes, since a node process cannot fork).
 */
export class WorkerPool {
  readonly name = hexName();
  private readonly workers = new Map<string, PoolWorker>();
  private readonly restartDelayMs: number;
  private readonly maxStartFailures: number;
  private stopping = 0;
  private startFailures = 0;
  /** Why and with which exit code the pool gave up on its workers. */
  private failure: { code: number; why: string } | null = null;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  private wake: (() => void) | null = null;

  constructor(private readonly options: WorkerPoolOptions) {
    if (!Number.isInteger(options.numWorkers) || options.numWorkers < 1) throw new RangeError(`numWorkers: expected a whole number >= 1, got ${options.numWorkers}`);
    this.restartDelayMs = options.restartDelayMs ?? 1000;
    this.maxStartFailures = options.maxStartFailures ?? 3;
  }

  get log(): Logger {
    return this.options.logger;
  }

  /** The names of the workers running now. */
  get workerNames(): string[] {
    return [...this.workers.keys()];
  }

  /**
   * Starts the workers and supervises them until the pool is stopped (or, in burst mode, until all
   * have exited). Resolves to the exit code: 0, or the exit code of the workers that kept failing to start.
   */
  async run(): Promise<number> {
    const onSignal = (signal: NodeJS.Signals): void => this.stop(signal);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    this.log.info(`Starting worker pool ${this.name} with pid ${process.pid}: ${this.options.numWorkers} workers`);
    try {
      for (let i = 0; i < this.options.numWorkers; i++) this.startWorker();
      while (this.workers.size > 0 || this.restartTimers.size > 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    if (this.failure) {
      this.log.error(this.failure.why);
      return this.failure.code;
    }
    this.log.info('All workers stopped, exiting...');
    return 0;
  }

  /** First call: warm shutdown of every worker; second: cold (the workers' own two-signal rule). */
  stop(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.log.info(`${this.stopping === 0 ? 'Warm' : 'Cold'} shut down requested (${signal}): stopping ${this.workers.size} workers`);
    this.stopWorkers();
  }

  private stopWorkers(): void {
    this.stopping++;
    for (const t of this.restartTimers) clearTimeout(t);
    this.restartTimers.clear();
    for (const w of this.workers.values()) {
      try {
        w.child.kill('SIGTERM');
      } catch {
        // Already gone: its exit is handled below.
      }
    }
    this.wake?.();
  }

  private startWorker(): void {
    const name = hexName();
    const child = spawn(process.execPath, [...process.execArgv, RQ_MAIN, 'worker', ...this.options.workerArgs, '--name', name], {
      env: { ...process.env, [POOL_ENV]: this.name },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
      detached: true,
    });
    const worker: PoolWorker = {
      name,
      child,
      registered: false,
      stderrTail: [],
    };
    child.once('close', (code, signal) => this.onExit(worker, code, signal));
    // The worker's errors stay visible on the pool's stderr; the last lines explain a failed start.
    child.stderr!.on('data', (d: Buffer) => {
      process.stderr.write(d);
      worker.stderrTail.push(...d.toString().split('\n').filter((l) => l.trim() !== ''));
      worker.stderrTail.splice(0, Math.max(0, worker.stderrTail.length - 5));
    });
    child.on('message', (m) => {
      if (m !== REGISTERED) return;
      worker.registered = true;
      this.startFailures = 0;
    });
    child.once('error', (err) => this.log.error(`Worker ${name}: cannot start (${err.message})`));
    this.workers.set(name, worker);
    this.log.info(`Started worker ${name} with pid ${child.pid}`);
  }

  private onExit(worker: PoolWorker, code: number | null, signal: NodeJS.Signals | null): void {
    this.workers.delete(worker.name);
    const how = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (this.stopping > 0 || this.failure) {
      this.log.info(`Worker ${worker.name} stopped (${how})`);
    } else if (this.options.burst) {
      this.log.info(`Worker ${worker.name} finished (${how})`);
      if (code !== 0 && !this.failure) this.failure = { code: code ?? 1, why: `Worker ${worker.name} exited with ${how}` };
    } else if (!worker.registered && ++this.startFailures >= this.maxStartFailures) {
      const last = worker.stderrTail.at(-1);
      this.failure = {
        code: code || 1,
        why: `${this.startFailures} workers in a row exited before they registered (the last: ${how}${last ? `, saying: ${last}` : ''}): not restarting them; fix the cause shown above and start the pool again`,
      };
      this.stopWorkers();
    } else {
      const when = worker.registered ? 'died' : `exited before it registered (${this.startFailures} of ${this.maxStartFailures} in a row)`;
      this.log.warning(`Worker ${worker.name} (pid ${worker.child.pid}) ${when} (${how}): starting another in ${this.restartDelayMs / 1000} s`);
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        if (this.stopping === 0) this.startWorker();
        this.wake?.();
      }, this.restartDelayMs);
      this.restartTimers.add(timer);
    }
    this.wake?.();
  }
}
