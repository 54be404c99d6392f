import type { SentryOptions, Worker } from '../lib/Worker.js';
import { RqError } from '../lib/errors/RqError.js';

const PLUGIN_NAME = 'SentryPlugin';

interface SentrySdk {
  init(options: Record<string, unknown>): unknown;
  captureException(error: unknown, hint?: Record<string, unknown>): string;
  flush(timeoutMs?: number): Promise<boolean>;
}

/**
 * Reports job exceptions to Sentry through the official `@sentry/node` SDK (an optional dependency,
 * imported only when a DSN is configured: `SENTRY_DSN` / `--sentry-dsn`). Each event carries the job
 * id, function, queue and worker as tags. Runs where jobs are recorded: in the worker process, and
 * in a horse that takes its own jobs (WorkerOptions.sentry), so it also reports timeouts and horse crashes.
 */
export class SentryPlugin {
  constructor(private readonly options: SentryOptions) {}

  apply(worker: Worker): void {
    let sdk: SentrySdk | null = null;

    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => {
      try {
        sdk = (await import('@sentry/node')) as unknown as SentrySdk;
      } catch (cause) {
        throw new RqError('SENTRY_DSN is set but @sentry/node is not installed: npm install @sentry/node', { cause });
      }
      const init: Record<string, unknown> = { dsn: this.options.dsn, debug: this.options.debug ?? false, defaultIntegrations: false };
      // In a horse the PEM arrives over IPC as a Uint8Array.
      const ca = this.options.caCerts;
      if (ca) init.transportOptions = { caCerts: typeof ca === 'string' ? ca : Buffer.from(ca) };
      sdk.init(init);
    });

    worker.hooks.exception.tapPromise({ name: PLUGIN_NAME, stage: -50 }, async (job, error, w) => {
      let func = '';
      try {
        func = job.funcName;
      } catch {
        // undecodable data: the exception says why
      }
      sdk?.captureException(error, {
        tags: { 'rq.job_id': job.id, 'rq.func': func, 'rq.queue': job.origin ?? '', 'rq.worker': w.name },
        extra: { description: job.description, excInfo: job.excInfo },
      });
      // A horse may die in its next job, before the SDK has sent the event: it goes out first (as
      // python-rq's horse sends it when it exits after each job). Failures only, so no cost per success.
      if (w.role === 'horse') await sdk?.flush(2000);
      return undefined;
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      await sdk?.flush(5000);
    });
  }
}
