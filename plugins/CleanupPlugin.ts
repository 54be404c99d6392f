import type { Outcome } from '../lib/hooks.js';
import { RqError } from '../lib/errors/RqError.js';
import { DEFAULT_FAILURE_TTL, type Job } from '../lib/Job.js';
import { Result, ResultType } from '../lib/Result.js';
import type { Worker } from '../lib/Worker.js';
import { formatException, toError } from '../lib/execute.js';
import { runScript, type NextReply, type OutcomeReply } from '../lib/redis/scripts.js';
import { epochSeconds, utcformat } from '../lib/time.js';
import { claimedQueueOf, type NextBlock } from '../lib/Lookahead.js';
import { enqueueDependents } from '../lib/dependencies.js';
import { sleep } from '../lib/suspension.js';

const PLUGIN_NAME = 'CleanupPlugin';

/** An error reply from Redis itself (a script that failed on the data it met): sending it again fails again. */
function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

/**
 * Runs a Redis write until it succeeds: a job's outcome must be recorded even if Redis restarts
 * meanwhile (else a finished job would later be failed as abandoned). Gives up only on cold shutdown.
 */
async function persistently<T>(w: Worker, what: string, write: () => Promise<T>): Promise<T> {
  let backoff = 1;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if (w.coldShutdown || isReplyError(err)) throw err;
      w.logger.error(`Could not record ${what}: ${err instanceof Error ? err.message : String(err)}; retrying in ${backoff} s`);
      await sleep(backoff * 1000);
      backoff = Math.min(backoff * 2, 60);
    }
  }
}

/** The result stream fields of a success, or the error that makes the return value unstorable. */
function successFields(w: Worker, outcome: Extract<Outcome, { status: 'finished' }>): string[] | Error {
  try {
    if (outcome.serialized !== undefined) {
      return outcome.serialized === null ? ['type', String(ResultType.SUCCESSFUL)] : ['type', String(ResultType.SUCCESSFUL), 'return_value', outcome.serialized.toString('base64')];
    }
    return Result.successFields(outcome.returnValue, w.serializer);
  } catch (err) {
    return toError(err);
  }
}

/**
 * The cleanup stage (rq-wire-protocol.md §4.4, §4.5, §4.8, §4.9): one script records the outcome,
 * leaves the StartedJobRegistry, updates the worker's stats and sets it `idle`. Success: result
 * stream and FinishedJobRegistry by result_ttl. Failure: a retry when retries are left, else status
 * failed (or stopped) and, unless the default exception handler is disabled, FailedJobRegistry and
 * result stream; then the `exception` hook (the handlers chain).
 */
export class CleanupPlugin {
  apply(worker: Worker): void {
    worker.hooks.cleanup.tapPromise(PLUGIN_NAME, async (job, outcome, w) => {
      const endedAt = outcome.status === 'pending' ? new Date() : outcome.endedAt;
      const working = Math.max(0, (endedAt.getTime() - (w.jobStartedAt ?? endedAt).getTime()) / 1000);
      if (outcome.status === 'finished') {
        const fields = successFields(w, outcome);
        if (Array.isArray(fields)) {
          await this.finish(w, job, endedAt, working, fields);
          return;
        }
        fields.message = `Return value could not be serialized: ${fields.message}`;
        await this.fail(w, job, endedAt, working, fields, formatException(fields), false);
        return;
      }
      const error = outcome.status === 'failed' ? outcome.error : new Error('The job was not performed');
      const excString = outcome.status === 'failed' ? outcome.excString : formatException(error);
      await this.fail(w, job, endedAt, working, error, excString, outcome.status === 'failed' && outcome.stopped === true);
    });
  }

  private async dependents(w: Worker, job: Job, deleteSet: boolean): Promise<void> {
    const n = await persistently(w, `the dependents of job ${job.id}`, () => enqueueDependents(w.connection, job, { deleteSet }));
    if (n > 0) w.logger.info(`Enqueued ${n} dependent job${n === 1 ? '' : 's'} of ${job.id}`);
  }

  /** The next job the outcome script claimed or started is kept for the next dequeue. */
  private async keepNext(w: Worker, reply: NextReply | null, now: Date, next: NextBlock | null): Promise<void> {
    const claims = w.engine.lookahead;
    const taken = await claims.nextJobFromReply(w.queues, reply, now, next);
    if (taken.kind === 'job') claims.holdAhead(taken.job);
    else if (taken.kind === 'skipped') w.logger.warning(`Job ${taken.id} was taken from ${taken.queue.name} but ${taken.reason}; skipped`);
  }

  /**
   * Success. When the job held ahead is launched by this script, the script's reply is not waited
   * for: the next job runs while Redis records this one, and the reply is handled when it comes
   * (dependents, a deletion noticed). The next outcome script waits only when no job is held ahead
   * yet; with jobs taken two ahead, that is the reply of the script before this one.
   */
  private async finish(w: Worker, job: Job, endedAt: Date, working: number, fields: string[]): Promise<void> {
    const keys = w.keys;
    const queue = claimedQueueOf(job, w.queueNames[0]!);
    const resultTtl = job.resultTtl ?? w.resultTtl;
    const claims = w.engine.lookahead;
    // Concurrent jobs take nothing ahead: no script of another job needs to be answered first.
    if (w.concurrency === 1) await claims.ready();
    job.endedAt = endedAt;
    w.state = 'idle';
    const now = new Date();
    const next = claims.next(w.engine.jobsAfter(job), now);
    claims.sendingOutcome(job);
    // One token for every attempt of this write: a repeat after a lost reply is replayed, not rerun.
    const token = claims.token();
    const write = (): Promise<OutcomeReply> => persistently(w, `the result of job ${job.id}`, () =>
      runScript(
        w.connection,
        'rqFinish',
        {
          job: job.key,
          wip: keys.started(queue),
          finished: keys.finished(queue),
          results: keys.results(job.id),
          worker: w.key,
          dependents: job.dependentsKey,
          dependencies: job.dependenciesKey,
          next: next.keys,
        },
        {
          id: job.id,
          endedAt: utcformat(endedAt),
          resultTtl,
          endedEpoch: epochSeconds(endedAt),
          workingTime: working.toFixed(6),
          workerTtl: w.workerTtl + 60,
          stillRunning: w.engine.stillRunning(job),
          ...next.args,
          token,
          result: fields,
        },
      ),
    );
    const recorded = async (reply: OutcomeReply): Promise<void> => {
      // Counted once Redis has counted it, as fail() does.
      w.successfulJobCount++;
      w.totalWorkingTime += working;
      const result = reply[0].toString();
      // 'gone': the job was deleted while it ran; nothing of it is recreated.
      job.status = result === 'gone' ? null : 'finished';
      if (next.launched && result === 'gone') w.logger.warning(`Job ${job.id} was deleted while it ran; its outcome (finished) is not recorded`);
      await this.keepNext(w, reply[1], now, next);
      if (reply[2] > 0) await this.dependents(w, job, result === 'deleted');
    };
    // Redis refused the script on this job's data (a key of the wrong type): record a failure instead.
    const unrecordable = async (err: unknown): Promise<void> => {
      if (!isReplyError(err)) throw err;
      w.logger.error(`Could not record the result of job ${job.id}: ${err.message}; recording it as failed`);
      await claims.outcomeRefused(next);
      const error = new RqError(`The result could not be recorded: ${err.message}`, { cause: err });
      await this.fail(w, job, endedAt, working, error, formatException(error), false, next.launched !== null);
    };
    if (next.launched) {
      job.status = 'finished';
      claims.push(next, write().then(recorded, unrecordable));
      return;
    }
    let reply: OutcomeReply;
    try {
      const sent = write();
      claims.awaiting(next, sent);
      reply = await sent;
    } catch (err) {
      await unrecordable(err);
      return;
    }
    await recorded(reply);
  }

  /**
   * Failure. `inBackground`: called from the reply handler of a script in flight, while the next job
   * already runs: no wait for that script (it is this one), and no next job taken.
   */
  private async fail(w: Worker, job: Job, endedAt: Date, working: number, error: Error, excString: string, stopped: boolean, inBackground = false): Promise<void> {
    const keys = w.keys;
    const queue = claimedQueueOf(job, w.queueNames[0]!);
    const failureTtl = job.failureTtl ?? DEFAULT_FAILURE_TTL;
    const excField = Result.failureFields(excString)[3];
    const claims = w.engine.lookahead;
    if (!inBackground && w.concurrency === 1) await claims.settle();
    const now = new Date();
    const next = claims.next(inBackground ? 0 : w.engine.jobsAfter(job), now);
    claims.sendingOutcome(job);
    const token = claims.token();
    const write = (): Promise<OutcomeReply> => persistently(w, `the failure of job ${job.id}`, () =>
      runScript(
        w.connection,
        'rqFail',
        {
          job: job.key,
          wip: keys.started(queue),
          failed: keys.failed(queue),
          results: keys.results(job.id),
          worker: w.key,
          dependents: job.dependentsKey,
          dependencies: job.dependenciesKey,
          queue: keys.queue(queue),
          queues: keys.queues,
          scheduled: keys.scheduled(queue),
          next: next.keys,
        },
        {
          id: job.id,
          endedAt: utcformat(endedAt),
          endedEpoch: epochSeconds(endedAt),
          failureTtl,
          failureTtlSet: job.failureTtl === null ? '0' : '1',
          workingTime: working.toFixed(6),
          workerTtl: w.workerTtl + 60,
          stillRunning: w.engine.stillRunning(job),
          status: stopped ? 'stopped' : 'failed',
          defaultHandler: w.disableDefaultExceptionHandler ? '0' : '1',
          queueMember: keys.queue(queue),
          // rq 1.13 records a stopped job's result as FAILED (its STOPPED type is unused).
          resultType: String(ResultType.FAILED),
          excString: excField ?? '',
          ...next.args,
          token,
        },
      ),
    );
    let reply: OutcomeReply;
    try {
      const sent = write();
      claims.awaiting(next, sent);
      reply = await sent;
    } catch (err) {
      if (!isReplyError(err)) throw err;
      // Nothing more can be written for this job: it stays started, and maintenance fails it as
      // abandoned once its heartbeat TTL passes. The worker goes on.
      w.logger.error(`Could not record the failure of job ${job.id} (${error.message}): ${err.message}; it stays in the StartedJobRegistry until maintenance fails it`);
      await claims.outcomeRefused(next);
      if (!next.launched && !inBackground) w.state = 'idle';
      return;
    }
    const result = reply[0].toString();
    // A job that will be retried has not ended: its dependents keep waiting (as rq).
    if (reply[2] > 0 && (result === 'failed' || result === 'stopped')) await this.dependents(w, job, false);
    job.status = result === 'gone' ? null : result === 'requeued' ? 'queued' : result === 'scheduled' ? 'scheduled' : stopped ? 'stopped' : 'failed';
    // The retry script took one: keep the job object equal to what Redis now holds.
    if ((result === 'requeued' || result === 'scheduled') && job.retriesLeft !== null) job.retriesLeft = Math.max(job.retriesLeft - 1, 0);
    job.endedAt = endedAt;
    job.excInfo = excString;
    w.failedJobCount++;
    w.totalWorkingTime += working;
    if (!next.launched && !inBackground) w.state = 'idle';
    await this.keepNext(w, reply[1], now, next);
    try {
      await w.hooks.exception.promise(job, error, w);
    } catch (err) {
      w.logger.error(`An exception handler failed for job ${job.id}: ${formatException(err)}`);
    }
  }
}
