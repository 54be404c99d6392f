import { AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook } from 'tapable';
import { PluginError } from './errors/PluginError.js';
import type { Job } from './Job.js';
import type { Queue } from './Queue.js';
import type { Worker } from './Worker.js';

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
 * When the horse takes its own jobs (`horseLoop`, the default for Worker), the job stages (dequeue to
 * cleanup, exception) fire in the horse process, as in a SimpleWorker, and the worker process fires
 * startup, register, dequeue (once: it waits while the horse's loop runs), heartbeat and shutdown,
 * plus cleanup and exception for a job whose horse died. Otherwise every hook fires in the worker
 * process, and in the horse (role `horse`) only `startup`, `perform` (around the function call) and
 * `shutdown`.
 */
export interface WorkerHooks {
  /** Boot: once, before registration (the horse: once when it starts). */
  readonly startup: AsyncSeriesHook<[Worker]>;
  /** The worker writes its hash and joins the worker sets. */
  readonly register: AsyncSeriesHook<[Worker]>;
  /** Claim the next job from the queues (in priority order); undefined = stop (burst done, shutdown). */
  readonly dequeue: AsyncSeriesBailHook<[Worker, Queue[]], Job | void>;
  /** The claimed job before it runs: decode, check, log. Waterfall: return the job. */
  readonly prepare: AsyncSeriesWaterfallHook<[Job, Worker]>;
  /** Hand out the horse that runs the job. */
  readonly fork: AsyncSeriesBailHook<[Job, Worker], Horse | void>;
  /** Run the job. Waterfall over the outcome: a tap before the default may pre-empt it, one after sees it. */
  readonly perform: AsyncSeriesWaterfallHook<[Outcome, Job, Worker]>;
  /** After every job (also when perform threw): registries, results, stats, state `idle`. */
  readonly cleanup: AsyncSeriesHook<[Job, Outcome, Worker]>;
  /** A job failed: exception handlers in order; a tap returning `false` stops the chain. */
  readonly exception: AsyncSeriesBailHook<[Job, Error, Worker], boolean | void>;
  /** A heartbeat was sent (idle or busy). */
  readonly heartbeat: AsyncSeriesHook<[Worker]>;
  /** The worker stops: death registration, connections closed. Fires once, also after errors. */
  readonly shutdown: AsyncSeriesHook<[Worker]>;
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
      const rethrow = (err: unknown): never => {
        throw err instanceof PluginError ? err : new PluginError(hookName, tap.name, err);
      };
      if (tap.type === 'promise') {
        return { ...tap, fn: (...args: unknown[]) => (fn(...args) as Promise<unknown>).catch(rethrow) };
      }
      if (tap.type === 'sync') {
        return {
          ...tap,
          fn: (...args: unknown[]) => {
            try {
              return fn(...args);
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
    shutdown: new AsyncSeriesHook<[Worker]>(['worker']),
  };
  for (const [name, hook] of Object.entries(hooks)) wrapErrors(name, hook as AnyHook);
  return Object.freeze(hooks);
}
