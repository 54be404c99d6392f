import type * as Tapable from 'tapable';
import { requireCjs } from './cjs.js';
import { PluginError } from './errors/PluginError.js';
import { formatException } from './execute.js';
import type { Job } from './Job.js';
import type { Queue } from './Queue.js';
import type { Worker } from './Worker.js';

const { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook } = requireCjs('tapable') as typeof Tapable;

/** What a job's run came to. `pending` until the perform stage decides. */
export type Outcome =
  | { status: 'pending' }
  | { status: 'finished'; returnValue: unknown; endedAt: Date; serialized?: Buffer | null }
  | { status: 'failed'; error: Error; excString: string; endedAt: Date; stopped?: boolean };

/** Runs one job somewhere (a child process, or this process) and reports its outcome. */
export interface Horse {
  readonly pid: number;
  perform(job: Job, worker: Worker): Promise<Outcome>;
  /** Stops the running job at once (SIGKILL for a process horse). */
  kill(reason: string): void;
}

/**
 * The lifecycle stages of a worker, as tapable hooks (one set per Worker instance: tapable has no
 * untap). Each stage's built-in behaviour is a plugin from plugins/, applied after user plugins.
 *
 * Two groups, and one rule for where each fires (docs/plugins.md has the table):
 * - the job stages (dequeue, prepare, fork, perform, cleanup, exception) fire where the job engine
 *   runs (`worker.runsJobs`): the worker's own process for SimpleWorker, the horse for Worker (the
 *   worker process when the horse cannot take its own jobs; the worker says so at start). A worker
 *   process also records the job of a horse that died through cleanup and exception.
 * - the worker's own stages (startup, register, heartbeat, horseStarted, horseDied, shutdown) fire in
 *   every process that runs a worker; a horse fires startup and shutdown only.
 */
export interface WorkerHooks {
  /** Boot: once, before registration (a horse: once when it starts). */
  readonly startup: Tapable.AsyncSeriesHook<[Worker]>;
  /** The worker writes its hash and joins the worker sets. */
  readonly register: Tapable.AsyncSeriesHook<[Worker]>;
  /** Claim the next job from the queues (in priority order); undefined = stop (burst done, shutdown). */
  readonly dequeue: Tapable.AsyncSeriesBailHook<[Worker, Queue[]], Job | void>;
  /** The job before it runs: registered as started (when another tap than the default dequeued it), logged. Waterfall: return the job. */
  readonly prepare: Tapable.AsyncSeriesWaterfallHook<[Job, Worker]>;
  /** Hand out the horse that runs the job. */
  readonly fork: Tapable.AsyncSeriesBailHook<[Job, Worker], Horse | void>;
  /** Run the job. Waterfall over the outcome: a tap before the default may pre-empt it, one after sees it. */
  readonly perform: Tapable.AsyncSeriesWaterfallHook<[Outcome, Job, Worker]>;
  /**
   * After every job (also when perform threw): registries, results, stats, state `idle`. A tap that
   * throws before the outcome is recorded turns it into a failure with its PluginError; the taps
   * after it still run.
   */
  readonly cleanup: Tapable.AsyncSeriesHook<[Job, Outcome, Worker]>;
  /** A job failed: exception handlers in order; a tap returning `false` stops the chain. One that throws is logged and the chain goes on. */
  readonly exception: Tapable.AsyncSeriesBailHook<[Job, Error, Worker], boolean | void>;
  /** A heartbeat was sent (idle or busy). */
  readonly heartbeat: Tapable.AsyncSeriesHook<[Worker]>;
  /** A work horse process started and is ready for jobs (Worker only). */
  readonly horseStarted: Tapable.AsyncSeriesHook<[Worker, Horse]>;
  /** A work horse process ended without being asked to (a crash, a kill, a timeout): with rq's text for it. */
  readonly horseDied: Tapable.AsyncSeriesHook<[Worker, Horse, string]>;
  /** The worker stops: death registration, connections closed. Fires once, also after errors. */
  readonly shutdown: Tapable.AsyncSeriesHook<[Worker]>;
}

/** The job stages: they fire where the job engine runs. */
export const JOB_HOOKS = ['dequeue', 'prepare', 'fork', 'perform', 'cleanup', 'exception'] as const;

/** Turns an outcome not yet recorded into the failure of a cleanup tap (cleanup taps share one outcome object). */
function failInPlace(outcome: Outcome, error: Error): void {
  const o = outcome as Record<string, unknown>;
  delete o.returnValue;
  delete o.serialized;
  Object.assign(o, { status: 'failed', error, excString: formatException(error), endedAt: o.endedAt ?? new Date() });
}

type AnyHook = { intercept(interceptor: { register?: (tap: Tap) => Tap }): void };
interface Tap {
  name: string;
  type: string;
  fn: (...args: unknown[]) => unknown;
}

function wrapErrors(hookName: string, hook: AnyHook): void {
  hook.intercept({
    register(tap) {
      const fn = tap.fn;
      const wrap = (err: unknown): PluginError => (err instanceof PluginError ? err : new PluginError(hookName, tap.name, err));
      const rethrow = (err: unknown): never => {
        throw wrap(err);
      };
      if (tap.type === 'promise' && hookName === 'cleanup') {
        // Every cleanup tap runs: the default one must record the job whatever a tap before it did.
        return {
          ...tap,
          fn: (job: unknown, outcome: unknown, worker: unknown) =>
            (fn(job, outcome, worker) as Promise<unknown>).catch((err: unknown) => {
              const error = wrap(err);
              // Status `started`: the outcome is not recorded yet, so the job fails with this error.
              const unrecorded = (job as Job).status === 'started' && (outcome as Outcome).status !== 'pending';
              if (unrecorded) failInPlace(outcome as Outcome, error);
              (worker as Worker).logger.error(`${error.message} (job ${(job as Job).id}: ${unrecorded ? 'it fails with this error' : 'its outcome was recorded already'})`);
            }),
        };
      }
      if (tap.type === 'promise' && hookName === 'exception') {
        // The job has failed already: one handler's failure must not keep the next ones from running.
        return {
          ...tap,
          fn: (job: unknown, error: unknown, worker: unknown) =>
            (fn(job, error, worker) as Promise<unknown>).catch((err: unknown) => {
              (worker as Worker).logger.error(`${wrap(err).message} (job ${(job as Job).id}): ${formatException(err)}`);
              return undefined;
            }),
        };
      }
      if (tap.type === 'promise') {
        // Three named parameters (no hook has more), not rest arguments: this runs for every tap of
        // every job, and a rest array is an allocation each time.
        // What it returns is a thenable, not `.catch(rethrow)`: tapable calls then() on it once, so the
        // tap's promise gets one derived promise per call instead of two.
        return {
          ...tap,
          fn: (a: unknown, b: unknown, c: unknown) => {
            const p = fn(a, b, c) as PromiseLike<unknown>;
            // Not a promise: tapable says so, naming the tap.
            if (!p || typeof p.then !== 'function') return p;
            return { then: (ok: (v: unknown) => unknown, fail: (e: unknown) => unknown) => p.then(ok, (err: unknown) => fail(wrap(err))) };
          },
        };
      }
      if (tap.type === 'sync') {
        return {
          ...tap,
          // Three named parameters, as for promise taps: the built-in per-job taps are synchronous ones.
          fn: (a: unknown, b: unknown, c: unknown) => {
            try {
              return fn(a, b, c);
            } catch (err) {
              return rethrow(err);
            }
          },
        };
      }
      return tap;
    },
  });
}

export function createHooks(): WorkerHooks {
  const hooks: WorkerHooks = {
    startup: new AsyncSeriesHook<[Worker]>(['worker']),
    register: new AsyncSeriesHook<[Worker]>(['worker']),
    dequeue: new AsyncSeriesBailHook<[Worker, Queue[]], Job | void>(['worker', 'queues']),
    prepare: new AsyncSeriesWaterfallHook<[Job, Worker]>(['job', 'worker']),
    fork: new AsyncSeriesBailHook<[Job, Worker], Horse | void>(['job', 'worker']),
    perform: new AsyncSeriesWaterfallHook<[Outcome, Job, Worker]>(['outcome', 'job', 'worker']),
    cleanup: new AsyncSeriesHook<[Job, Outcome, Worker]>(['job', 'outcome', 'worker']),
    exception: new AsyncSeriesBailHook<[Job, Error, Worker], boolean | void>(['job', 'error', 'worker']),
    heartbeat: new AsyncSeriesHook<[Worker]>(['worker']),
    horseStarted: new AsyncSeriesHook<[Worker, Horse]>(['worker', 'horse']),
    horseDied: new AsyncSeriesHook<[Worker, Horse, string]>(['worker', 'horse', 'reason']),
    shutdown: new AsyncSeriesHook<[Worker]>(['worker']),
  };
  for (const [name, hook] of Object.entries(hooks)) wrapErrors(name, hook as AnyHook);
  return Object.freeze(hooks);
}
