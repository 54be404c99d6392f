import type { Outcome } from '../lib/hooks.js';
import type { Job } from '../lib/Job.js';
import type { Worker } from '../lib/Worker.js';
import { pyrepr } from '../lib/pyrepr.js';
import { RQ_TS_VERSION } from '../lib/version.js';

const PLUGIN_NAME = 'LoggingPlugin';

function describeJob(job: Job, w: Worker): string {
  if (w.disableJobDescLogging) return `job ${job.id}`;
  try {
    return job.description ?? job.callString;
  } catch {
    return `job ${job.id} (its data cannot be decoded)`;
  }
}

function returnValueOf(outcome: Extract<Outcome, { status: 'finished' }>, w: Worker): unknown {
  if (outcome.serialized === undefined) return outcome.returnValue;
  if (outcome.serialized === null) return null;
  try {
    return w.serializer.loads(outcome.serialized);
  } catch {
    return '<undecodable>';
  }
}

/** The worker's log lines, worded as in rq's Workers page (`*** Listening for work on ...`). */
export class LoggingPlugin {
  apply(worker: Worker): void {
    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => {
      w.logger.info(`Worker ${w.key}: started with PID ${w.pid}, version rq-ts ${RQ_TS_VERSION}`);
      w.logger.info(`*** Listening for work on ${w.queueNames.join(', ')}`);
    });

    const info = (w: Worker): boolean => w.logger.isEnabledFor?.('INFO') !== false;

    // Synchronous taps where nothing is awaited: a promise tap costs every job three promises.
    worker.hooks.prepare.tap(PLUGIN_NAME, (job, w) => {
      if (info(w)) w.logger.info(`Got ${describeJob(job, w)} from ${job.origin ?? '?'}`);
      return job;
    });

    // The lines of the last job and the `Got ...` of this one reach the log before it runs (a job
    // that blocks the event loop would otherwise hold them back).
    worker.hooks.perform.tap({ name: PLUGIN_NAME, stage: -1000 }, (outcome, _job, w) => {
      w.logger.flush?.();
      return outcome;
    });

    worker.hooks.exception.tapPromise({ name: PLUGIN_NAME, stage: -100 }, async (job, _error, w) => {
      let func = '?';
      try {
        func = job.funcName;
      } catch {
        // undecodable data: the traceback says why
      }
      w.logger.error(`[Job ${job.id}]: exception raised while executing (${func})\n${job.excInfo ?? ''}`);
      return undefined;
    });

    worker.hooks.cleanup.tapPromise(PLUGIN_NAME, async (job, outcome, w) => {
      if (job.status === null) {
        w.logger.warning(`Job ${job.id} was deleted while it ran; its outcome (${outcome.status}) is not recorded`);
      } else if (!info(w)) {
        return;
      } else if (outcome.status === 'finished') {
        const rv = returnValueOf(outcome, w);
        w.logger.info(rv === null || rv === undefined ? 'Job ended normally without result' : `Job OK, result = ${pyrepr(rv)}`);
        const ttl = job.resultTtl ?? w.resultTtl;
        if (ttl === 0) w.logger.info('Result discarded immediately');
        else if (ttl > 0) w.logger.info(`Result is kept for ${ttl} seconds`);
        else w.logger.info('Result will never expire, clean up result key manually');
      } else if (job.status === 'queued' || job.status === 'scheduled') {
        w.logger.info(`Job ${job.id} failed, ${job.status === 'queued' ? 'requeued' : 'scheduled'} for a retry (${job.retriesLeft ?? 0} retries left)`);
      } else if (!w.disableDefaultExceptionHandler) {
        w.logger.info(`Moving job ${job.id} to FailedJobRegistry`);
      }
    });
  }
}
