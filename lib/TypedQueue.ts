import { RqError } from './errors/RqError.js';
import type { Job, WaitForResultOptions } from './Job.js';
import type { EnqueueCallOptions, Queue } from './Queue.js';

/** A function a job can call. `any[]` because parameter lists are contravariant: `(a: number) => x` is not a `(...args: unknown[]) => x`. */
type AnyFunction = (...args: any[]) => unknown;

/** The names of a module's exported functions. */
export type TaskName<M> = { [K in keyof M]: M[K] extends AnyFunction ? K : never }[keyof M] & string;
/** The parameters of task `K` of module `M`. */
export type TaskArgs<M, K extends TaskName<M>> = M[K] extends (...args: infer A) => unknown ? A : never;
/** What task `K` of module `M` resolves to (a promise is awaited by the worker, as rq-ts's runs async functions). */
export type TaskResult<M, K extends TaskName<M>> = M[K] extends (...args: never[]) => infer R ? Awaited<R> : never;

/** A job whose function's return type is known: `returnValue()` and `waitForResult()` are typed by it. */
export interface TypedJob<R> extends Job {
  /** The return value of the latest successful run; null while the job has not finished. */
  returnValue(): Promise<R | null>;
  waitForResult(options?: WaitForResultOptions): Promise<R>;
}

/** rq's job options for a typed call: everything of enqueueCall but the function and its arguments. */
export type TypedCallOptions = Omit<EnqueueCallOptions, 'func' | 'args' | 'kwargs'>;

const MODULE_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/**
 * A queue whose calls are checked by tsc against a task module's types, written as rq's dotted
 * path (`<module>.<name>`) on the wire, so a worker of either language finds the function. Made by
 * `typedQueue<typeof import('./tasks.js')>(queue, 'tasks')`; the import is type-only: the producer
 * does not load the task module.
 */
export class TypedQueue<M> {
  constructor(
    readonly queue: Queue,
    /** The dotted module path the worker resolves (`tasks`, `app.jobs`). */
    readonly module: string,
  ) {
    if (typeof module !== 'string' || !MODULE_PATH.test(module)) {
      throw new RqError(`typedQueue: module path ${JSON.stringify(module)} is not valid; give the dotted path the worker imports, e.g. 'tasks' or 'app.jobs'`);
    }
  }

  /** The dotted path of a task: `tasks.add`. */
  path<K extends TaskName<M>>(name: K): string {
    return `${this.module}.${name}`;
  }

  /** `await q.enqueue('add', 2, 3)`: a TypedJob<number> when `add(a: number, b: number): number`. */
  async enqueue<K extends TaskName<M>>(name: K, ...args: TaskArgs<M, K>): Promise<TypedJob<TaskResult<M, K>>> {
    return (await this.queue.enqueueCall({ func: this.path(name), args })) as TypedJob<TaskResult<M, K>>;
  }

  /** enqueue with rq's job options (timeout, resultTtl, jobId, retry, dependsOn, ...). */
  async enqueueCall<K extends TaskName<M>>(name: K, args: TaskArgs<M, K>, options: TypedCallOptions = {}): Promise<TypedJob<TaskResult<M, K>>> {
    return (await this.queue.enqueueCall({ ...options, func: this.path(name), args })) as TypedJob<TaskResult<M, K>>;
  }

  /** Runs the task `seconds` from now (needs a worker started with `--with-scheduler`). */
  async enqueueIn<K extends TaskName<M>>(seconds: number, name: K, ...args: TaskArgs<M, K>): Promise<TypedJob<TaskResult<M, K>>> {
    return (await this.queue.enqueueIn(seconds, { func: this.path(name), args })) as TypedJob<TaskResult<M, K>>;
  }

  /** Runs the task at `when` (needs a worker started with `--with-scheduler`). */
  async enqueueAt<K extends TaskName<M>>(when: Date, name: K, ...args: TaskArgs<M, K>): Promise<TypedJob<TaskResult<M, K>>> {
    return (await this.queue.enqueueAt(when, { func: this.path(name), args })) as TypedJob<TaskResult<M, K>>;
  }
}

/** `typedQueue<typeof import('./tasks.js')>(queue, 'tasks')`: see TypedQueue. */
export function typedQueue<M>(queue: Queue, module: string): TypedQueue<M> {
  return new TypedQueue<M>(queue, module);
}
