import { AsyncLocalStorage } from 'node:async_hooks';
import { inspect } from 'node:util';
import type { Job } from './Job.js';
import { ResolveError } from './errors/ResolveError.js';
import { resolveDotted, type ResolveOptions } from './resolve.js';

// Shared through globalThis: job code may load a second copy of rq-ts (e.g. the TypeScript
// sources through jiti while the worker runs the built files), and both must see the same job.
const CURRENT_KEY = Symbol.for('rq-ts.currentJob');
const holder = globalThis as { [CURRENT_KEY]?: AsyncLocalStorage<Job> };
const current = (holder[CURRENT_KEY] ??= new AsyncLocalStorage<Job>());

/** The job being performed, from inside the job's function (rq's `get_current_job()`). */
export function getCurrentJob(): Job | null {
  return current.getStore() ?? null;
}

type JobFunction = (...args: unknown[]) => unknown;
const functions = new Map<string, JobFunction>();
const resolving = new Map<string, Promise<JobFunction>>();

export interface JobFunctionOptions extends ResolveOptions {
  /**
   * Module prefixes job functions may come from (`JOB_MODULES` / `--allow-module`), e.g. `tasks`
   * allows `tasks.add` and `tasks.mail.send`. Unset: any module under the worker's paths, and no
   * installed package, so that whoever can write to Redis cannot make a worker import arbitrary code.
   */
  allowedModules?: readonly string[] | undefined;
}

/** Throws if `funcName` is outside the allowlist. */
export function checkAllowed(funcName: string, allowedModules: readonly string[] | undefined): void {
  if (!allowedModules) return;
  if (allowedModules.some((m) => funcName === m || funcName.startsWith(`${m}.`))) return;
  throw new ResolveError(
    `Function "${funcName}" is not allowed: its module is not in JOB_MODULES (allowed: ${allowedModules.join(', ') || 'none'}); add it with --allow-module`,
  );
}

const cacheKey = (funcName: string, options: JobFunctionOptions): string => `${funcName}\0${(options.paths ?? []).join('\0')}`;

/**
 * The function resolveJobFunction() resolved before for `funcName` and these options, else undefined:
 * what a busy worker calls first, without the promise hop of the async resolve. Only from allowed modules.
 */
export function resolvedJobFunction(funcName: string, options: JobFunctionOptions): JobFunction | undefined {
  checkAllowed(funcName, options.allowedModules);
  return functions.get(cacheKey(funcName, options));
}

/**
 * The function a job names (`tasks.send_newsletter`), resolved once per process and cached: a warm
 * horse pays the import cost on its first job only. Only from allowed modules (see JobFunctionOptions).
 */
export async function resolveJobFunction(funcName: string, options: JobFunctionOptions): Promise<JobFunction> {
  checkAllowed(funcName, options.allowedModules);
  const key = cacheKey(funcName, options);
  let fn = functions.get(key);
  if (!fn) {
    // Concurrent jobs of one function (concurrency > 1) share the first one's import instead of each starting one.
    let pending = resolving.get(key);
    if (!pending) {
      pending = (resolveDotted(funcName, { ...options, packages: options.allowedModules !== undefined }, 'function', 'job function') as Promise<JobFunction>).finally(() =>
        resolving.delete(key),
      );
      resolving.set(key, pending);
    }
    fn = await pending;
    functions.set(key, fn);
  }
  return fn;
}

/**
 * Calls a job's function the way rq-ts maps Python's calling convention: positional args spread,
 * and kwargs (when there are any) as one last object argument. Inside, getCurrentJob() is the job.
 */
export function callJobFunction(job: Job, fn: JobFunction): unknown {
  const args = job.args;
  const kwargs = job.kwargs;
  return current.run(job, () => (Object.keys(kwargs).length > 0 ? fn(...args, kwargs) : fn(...args)));
}

/** The text rq stores as exc_info: the stack (which starts with `Name: message`). */
export function formatException(err: unknown): string {
  if (err instanceof Error) {
    const stack = err.stack ?? `${err.name}: ${err.message}`;
    return err.cause === undefined ? stack : `${stack}\n\nCaused by: ${formatException(err.cause)}`;
  }
  return `Error: a non-Error value was thrown: ${inspect(err, { depth: 2, breakLength: Infinity })}`;
}

/** Turns anything thrown into an Error (job code may throw strings or plain objects). */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(`a non-Error value was thrown: ${inspect(err, { depth: 2, breakLength: Infinity })}`);
}
