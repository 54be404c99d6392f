import type { Worker } from '../lib/Worker.js';

const PLUGIN_NAME = 'ExceptionHandlersPlugin';

/**
 * The worker's exception handlers as a chain on the `exception` hook, in the order given: each is
 * called as `(job, error, worker)`; `false` stops the chain, anything else (undefined, true) goes on.
 * They run in the worker process, so they also see timeouts and horse crashes.
 */
export class ExceptionHandlersPlugin {
  apply(worker: Worker): void {
    worker.exceptionHandlers.forEach((handler, i) => {
      const name = handler.name ? `${PLUGIN_NAME}:${handler.name}` : `${PLUGIN_NAME}:${i}`;
      worker.hooks.exception.tapPromise(name, async (job, error, w) => {
        const result = await handler(job, error, w);
        return result === false ? false : undefined;
      });
    });
  }
}
