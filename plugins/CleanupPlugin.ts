import type { Outcome } from '../lib/hooks.js';
import { RqError } from '../lib/errors/RqError.js';
import { DEFAULT_FAILURE_TTL, type Job } from '../lib/Job.js';
import { Result, ResultType } from '../lib/Result.js';
import type { Worker } from '../lib/Worker.js';
import { formatException, toError } from '../lib/execute.js';
import { runScript, type NextReply, type OutcomeReply, type ScriptReply } from '../lib/redis/scripts.js';
import type { JobCounts } from '../lib/PendingCounts.js';
import { utcformat } from '../lib/time.js';
import { claimedQueueOf, type Deferred, type NextBlock } from '../lib/Lookahead.js';
import { finishManyParts, type GroupedSuccess } from '../lib/DirectLog.js';
import type { JobEngine } from '../lib/JobEngine.js';
import { enqueueDependents } from '../lib/dependencies.js';
import { isTransient, untilAnswered } from '../lib/RedisOutage.js';
import { executionKeys, executionOf } from '../lib/protocol.js';

const PLUGIN_NAME = 'CleanupPlugin';

/**
 * An error reply from Redis on the data a script met (a key of the wrong type): sending it again
 * fails again. Replies that mean "not now" (BUSY, OOM, ...) are waited out by untilAnswered, and reach
 * the callers here only at a cold shutdown, when they are given up.
 */
function isPermanentReply(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError' && !isTransient(err);
}

/** The result stream fields of a success, or the error that makes the return value unstorable. */
function successFields(w: Worker, job: Job, outcome: Extract<Outcome, { status: 'finished' }>, endedAt: Date): string[] | Error {
  try {
    const fields =
      outcome.serialized === undefined
        ? Result.successFields(outcome.returnValue, w.serializer, w.name)
        : ['type', String(ResultType.SUCCESSFUL), 'worker_name', w.name, ...(outcome.serialized === null ? [] : ['return_value', outcome.serialized.toString('base64')])];
    return fields.concat(executionFields(w, job, endedAt));
  } catch (err) {
    return toError(err);
  }
}

/** rq 2.x's execution fields of a result entry (Result.executionFields) for the job `w` runs. */
function executionFields(w: Worker, job: Job, endedAt: Date): string[] {
  return Result.executionFields(executionOf(job), w.jobStartedAt, endedAt);
}

/**
 * rq 2.x's Repeat (repeat.py schedule): after a success with repeats left, {repeats left after this
 * run, seconds to wait}; the interval is `repeat_intervals[repeats_left - 1]`, the last one past the end.
 */
function repeatOf(job: Job): '' | [number, number] {
  const left = job.repeatsLeft;
  if (left === null || left <= 0) return '';
  const intervals = job.repeatIntervals?.filter((n) => typeof n === 'number' && Number.isFinite(n));
  const interval = intervals && intervals.length > 0 ? intervals[Math.min(left - 1, intervals.length - 1)]! : 0;
  return [left - 1, Math.max(0, interval)];
}

/**
 * The cleanup stage (rq-wire-protocol.md §4.4, §4.5, §4.8, §4.9): one script records the outcome,
 * leaves the StartedJobRegistry, updates the worker's stats and sets it `idle`. Success: result
 * stream and FinishedJobRegistry by result_ttl. Failure: a retry when retries are left, else status
 * failed (or stopped) and, unless the default exception handler is disabled, FailedJobRegistry and
 * result stream; then the `exception` hook (the handlers chain).
 */
export class CleanupPlugin {
  /** Each job engine's group commit (lanes of concurrent jobs share their worker's engine). */
  private readonly commits = new WeakMap<JobEngine, GroupCommit>();

  apply(worker: Worker): void {
    const commit = new GroupCommit(worker, this);
    this.commits.set(worker.engine, commit);
    worker.engine.lookahead.deferred = commit;
    worker.hooks.cleanup.tapPromise(PLUGIN_NAME, async (job, outcome, w) => {
      const endedAt = outcome.status === 'pending' ? new Date() : outcome.endedAt;
      const working = Math.max(0, (endedAt.getTime() - (w.jobStartedAt ?? endedAt).getTime()) / 1000);
      if (outcome.status === 'finished') {
        const fields = successFields(w, job, outcome, endedAt);
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

  /** Enqueues the dependents of `job`, which ended (`deleteSet`: it was deleted, result_ttl 0). */
  async dependents(w: Worker, job: Job, deleteSet: boolean): Promise<void> {
    const n = await untilAnswered(w, `enqueue the dependents of job ${job.id}`, () => enqueueDependents(w.connection, job, { deleteSet }));
    if (n > 0) w.logger.info(`Enqueued ${n} dependent job${n === 1 ? '' : 's'} of ${job.id}`);
  }

  /** The next job the outcome script claimed or started is kept for the next dequeue. */
  async keepNext(w: Worker, reply: NextReply, now: Date, next: NextBlock | null): Promise<void> {
    const claims = w.engine.lookahead;
    const taken = await claims.nextJobFromReply(w.queues, reply, now, next);
    if (taken.kind === 'job') claims.holdAhead(taken.job);
    else if (taken.kind === 'skipped') w.logger.warning(`Job ${taken.id} was taken from ${taken.queue.name} but ${taken.reason}; skipped`);
  }

  /**
   * Success. When the job held ahead is launched by this script, the script's reply is not waited
   * for: the next job runs while Redis records this one, and the reply is handled when it comes
   * (dependents, a deletion noticed). The next outcome script waits only when no job is held ahead
   * yet; with jobs taken two ahead, that is the reply of the script before this one. A success that
   * can wait is left to a group commit (GroupCommit). `alone`: recorded on its own, in the
   * background, after a group commit was refused (no next job, the worker's state untouched).
   */
  async finish(w: Worker, job: Job, endedAt: Date, working: number, fields: string[], alone = false): Promise<void> {
    const keys = w.keys;
    const queue = claimedQueueOf(job, w.queueNames[0]!);
    const resultTtl = job.resultTtl ?? w.resultTtl;
    const claims = w.engine.lookahead;
    const repeat = repeatOf(job);
    const execId = executionOf(job);
    const commit = this.commits.get(w.engine);
    if (!alone && commit) {
      if (repeat === '' && execId === '' && claims.grouping && claims.took(job)) {
        await commit.add(job, endedAt, working, fields);
        return;
      }
      commit.before(job);
    }
    // Concurrent jobs take nothing ahead: no script of another job needs to be answered first.
    if (w.concurrency === 1 && !alone) await claims.ready();
    job.endedAt = endedAt;
    if (!alone) w.state = 'idle';
    const now = new Date();
    const next = claims.next(alone ? 0 : w.engine.jobsAfter(job), now);
    claims.sendingOutcome(job);
    // The counts may wait for the outcome script of the job this one launches (lib/PendingCounts.ts).
    const counts = w.engine.counts.add('successful', working, next.launched !== null && w.maxJobs === null);
    // One token for every attempt of this write: a repeat after a lost reply is replayed, not rerun.
    const token = claims.token();
    const write = (): Promise<OutcomeReply> => claims.windowed(token, () => untilAnswered(w, `record the result of job ${job.id}`, () =>
      claims.send(next, () => runScript(
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
          queue: keys.queue(queue),
          queues: keys.queues,
          scheduled: keys.scheduled(queue),
          intermediate: keys.intermediate(queue),
          ...executionKeys(keys, job.id, execId),
          next: next.keys,
        },
        {
          id: job.id,
          endedAt: utcformat(endedAt),
          resultTtl,
          counts,
          workerTtl: w.workerTtl + 60,
          stillRunning: w.engine.stillRunning(job),
          ...next.args,
          token,
          result: fields,
          plan: repeat,
          queueMember: keys.queue(queue),
          execId,
        },
      )),
    ));
    const recorded = async (reply: OutcomeReply): Promise<void> => {
      // Counted once Redis has counted it, as fail() does.
      w.successfulJobCount++;
      w.totalWorkingTime += working;
      const result = reply[0].toString();
      // 'gone': the job was deleted while it ran; nothing of it is recreated.
      job.status = result === 'gone' ? null : result === 'requeued' ? 'queued' : result === 'scheduled' ? 'scheduled' : 'finished';
      if (result === 'requeued' || result === 'scheduled') {
        job.repeatsLeft = repeat === '' ? null : repeat[0];
        w.logger.info(`Job ${job.id} ${result === 'requeued' ? 'enqueued' : 'scheduled'} to repeat (${job.repeatsLeft} left)`);
      }
      if (next.launched && result === 'gone') w.logger.warning(`Job ${job.id} was deleted while it ran; its outcome (finished) is not recorded`);
      await this.keepNext(w, reply.slice(2), now, next);
      if (reply[1] > 0) await this.dependents(w, job, result === 'deleted');
    };
    // Redis refused the script on this job's data (a key of the wrong type): record a failure instead.
    const unrecordable = async (err: unknown): Promise<void> => {
      if (!isPermanentReply(err)) throw err;
      w.logger.error(`Could not record the result of job ${job.id}: ${err.message}; recording it as failed`);
      // Redis wrote nothing: what the script carried waits again, less this job, which fail() counts.
      w.engine.counts.restore(counts);
      w.engine.counts.remove('successful', working);
      await claims.outcomeRefused(next);
      const error = new RqError(`The result could not be recorded: ${err.message}`, { cause: err });
      await this.fail(w, job, endedAt, working, error, formatException(error), false, next.launched !== null || alone);
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
    const resultFields = Result.failureFields(excString, ResultType.FAILED, w.name).concat(executionFields(w, job, endedAt));
    const claims = w.engine.lookahead;
    const execId = executionOf(job);
    if (!inBackground) this.commits.get(w.engine)?.before(job);
    if (!inBackground && w.concurrency === 1) await claims.settle();
    const now = new Date();
    const next = claims.next(inBackground ? 0 : w.engine.jobsAfter(job), now);
    claims.sendingOutcome(job);
    // A failure writes every count that waits, its own included.
    const counts = w.engine.counts.add('failed', working, false);
    const token = claims.token();
    const write = (): Promise<OutcomeReply> => claims.windowed(token, () => untilAnswered(w, `record the failure of job ${job.id}`, () =>
      claims.send(next, () => runScript(
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
          intermediate: keys.intermediate(queue),
          ...executionKeys(keys, job.id, execId),
          next: next.keys,
        },
        {
          id: job.id,
          endedAt: utcformat(endedAt),
          failureTtl,
          failureTtlSet: job.failureTtl === null ? '0' : '1',
          counts,
          workerTtl: w.workerTtl + 60,
          stillRunning: w.engine.stillRunning(job),
          status: stopped ? 'stopped' : 'failed',
          defaultHandler: w.disableDefaultExceptionHandler ? '0' : '1',
          queueMember: keys.queue(queue),
          // rq 1.13 records a stopped job's result as FAILED (its STOPPED type is unused).
          result: resultFields,
          ...next.args,
          token,
          execId,
        },
      )),
    ));
    let reply: OutcomeReply;
    try {
      const sent = write();
      claims.awaiting(next, sent);
      reply = await sent;
    } catch (err) {
      if (!isPermanentReply(err)) throw err;
      // Nothing more can be written for this job: it stays started, and maintenance fails it as
      // abandoned once its heartbeat TTL passes. The worker goes on.
      w.logger.error(`Could not record the failure of job ${job.id} (${error.message}): ${err.message}; it stays in the StartedJobRegistry until maintenance fails it`);
      // Redis wrote nothing: the counts carried wait again, less this job's, which is not recorded.
      w.engine.counts.restore(counts);
      w.engine.counts.remove('failed', working);
      await claims.outcomeRefused(next);
      if (!next.launched && !inBackground) w.state = 'idle';
      return;
    }
    const result = reply[0].toString();
    // A job that will be retried has not ended: its dependents keep waiting (as rq).
    if (reply[1] > 0 && (result === 'failed' || result === 'stopped')) await this.dependents(w, job, false);
    job.status = result === 'gone' ? null : result === 'requeued' ? 'queued' : result === 'scheduled' ? 'scheduled' : stopped ? 'stopped' : 'failed';
    // The retry script took one: keep the job object equal to what Redis now holds.
    if ((result === 'requeued' || result === 'scheduled') && job.retriesLeft !== null) job.retriesLeft = Math.max(job.retriesLeft - 1, 0);
    job.endedAt = endedAt;
    job.excInfo = excString;
    w.failedJobCount++;
    w.totalWorkingTime += working;
    if (!next.launched && !inBackground) w.state = 'idle';
    await this.keepNext(w, reply.slice(2), now, next);
    try {
      await w.hooks.exception.promise(job, error, w);
    } catch (err) {
      w.logger.error(`An exception handler failed for job ${job.id}: ${formatException(err)}`);
    }
  }
}

/** A success left to a group commit: the job, and what rqFinishMany needs of it. */
interface Waiting extends GroupedSuccess {
  job: Job;
  ended: Date;
}

/**
 * Group commit for one job engine (WorkerOptions.batch): a SimpleWorker, or a Worker's horse, busy
 * with short jobs runs the jobs held ahead straight from their intermediate lists, without a start script each, and records
 * up to `batch` successes in one call (rqFinishMany), which also takes the next jobs ahead. Per job,
 * Redis is spared a script call, its claim (status, StartedJobRegistry, the worker's busy fields) and
 * its replay summary; the worker, a round trip and a command build each.
 * - A job still running after 2 ms is registered as started (claim(): with what waits), so a job
 *   that runs longer is seen by `rq info`, heart-beats and is failed as abandoned as without it.
 * - A failure, a repeat or protocol 2 goes the usual way (rqFail, rqFinish): what waits is recorded
 *   first, and a job that ran directly is registered as started before its outcome (before()).
 * - A SIGKILL loses no job: those that ran directly, and those not run, are still in their
 *   intermediate lists, which maintenance puts back in their queues. The short jobs that finished
 *   and were not yet recorded (fewer than 3 x `batch`: those waiting, and two batches whose calls may
 *   not have left) run again: at-least-once, for those.
 * - A horse logs each job before it runs it directly, and each success before its batch is sent
 *   (lib/DirectLog.ts): when it dies, its worker records those successes and fails the job that was
 *   running, so no job runs twice (HorseSupervisor).
 */
class GroupCommit implements Deferred {
  private waiting: Waiting[] = [];

  constructor(
    private readonly worker: Worker,
    private readonly cleanup: CleanupPlugin,
  ) {}

  /** A success that can wait: recorded now when `batch` wait, or when the next job cannot run directly. */
  async add(job: Job, endedAt: Date, working: number, fields: string[]): Promise<void> {
    const w = this.worker;
    const claims = w.engine.lookahead;
    const claimed = !claims.endDirect(job);
    claims.ran(true);
    job.endedAt = endedAt;
    job.status = 'finished';
    w.state = 'idle';
    const waiting: Waiting = {
      job,
      ended: endedAt,
      id: job.id,
      queue: claimedQueueOf(job, w.queueNames[0]!),
      key: job.key,
      dependentsKey: job.dependentsKey,
      dependenciesKey: job.dependenciesKey,
      startedAt: utcformat(job.startedAt ?? endedAt),
      endedAt: utcformat(endedAt),
      resultTtl: job.resultTtl ?? w.resultTtl,
      working,
      fields,
      claimed,
    };
    this.waiting.push(waiting);
    // A horse logs what its worker records if it dies before this batch is (lib/DirectLog.ts).
    if (!claimed) claims.log?.finished(waiting);
    // The jobs a call in flight takes ahead: the next one may run directly, or the NEXT block needs them.
    await claims.ready();
    // A job registered as started is recorded at once: a death now would fail it as abandoned,
    // though it finished (one that ran directly would only run again).
    if (!claimed && this.waiting.length < w.batch && claims.canRunDirect()) return;
    const now = new Date();
    this.commit(claims.next(w.engine.jobsAfter(job), now), now);
  }

  flush(): void {
    if (this.waiting.length === 0) return;
    const now = new Date();
    this.commit(this.worker.engine.lookahead.next(0, now), now);
  }

  claim(job: Job): void {
    const next = this.worker.engine.lookahead.startDirect(job);
    if (next) this.commit(next, new Date());
  }

  /** `job`'s outcome goes the usual way: it is registered as started if it ran directly, and what waits is recorded first. */
  before(job: Job): void {
    const claims = this.worker.engine.lookahead;
    claims.ran(false);
    const next = claims.startDirect(job);
    if (next) this.commit(next, new Date());
    else this.flush();
  }

  /** Sends what waits in one call whose NEXT block is `next`; its reply is handled when it comes. */
  private commit(next: NextBlock, now: Date): void {
    const w = this.worker;
    const claims = w.engine.lookahead;
    const batch = this.waiting;
    this.waiting = [];
    for (const { job, working } of batch) {
      w.engine.counts.count('successful', working);
      claims.sendingOutcome(job);
    }
    const { rest, args: lists } = finishManyParts(w.keys, batch);
    for (const key of next.keys) rest.push(key);
    const counts = w.engine.counts.take();
    // The batch's lines are in the horse's log before the batch can be lost with it.
    claims.log?.flush();
    const args = {
      ...lists,
      counts,
      workerTtl: w.workerTtl + 60,
      busyWith: next.launched ? '' : claims.directNext(),
      ...next.args,
      // The jobs' worker_name, whatever the NEXT block (one that takes no job leaves it empty).
      workerName: w.name,
      // One token for every attempt: a repeat after a lost reply is replayed, not rerun.
      token: claims.token(),
    };
    const what = batch.length === 1 ? `the result of job ${batch[0]!.job.id}` : `the results of ${batch.length} jobs`;
    const write = (): Promise<ScriptReply<'rqFinishMany'>> =>
      claims.windowed(args.token, () => untilAnswered(w, `record ${what}`, () => claims.send(next, () => runScript(w.connection, 'rqFinishMany', { worker: w.key, rest }, args))));
    claims.push(
      next,
      write().then(
        (reply) => this.recorded(batch, reply, next, now),
        (err: unknown) => this.refused(batch, counts, next, err),
      ),
    );
  }

  private async recorded(batch: Waiting[], reply: ScriptReply<'rqFinishMany'>, next: NextBlock, now: Date): Promise<void> {
    const w = this.worker;
    w.engine.lookahead.log?.confirmed(batch.map((e) => e.id));
    const outcomes = reply[0].toString('latin1');
    for (const [i, e] of batch.entries()) {
      w.successfulJobCount++;
      w.totalWorkingTime += e.working;
      // 'g': the job was deleted while it ran; nothing of it is recreated.
      if (outcomes[i + 1] === 'g') e.job.status = null;
    }
    await this.cleanup.keepNext(w, reply.slice(1 + batch.length) as NextReply, now, next);
    for (const [i, e] of batch.entries()) {
      if (Number(reply[i + 1]) > 0) await this.cleanup.dependents(w, e.job, outcomes[i + 1] === 'd');
    }
  }

  /**
   * Redis refused the call on one job's data (a key of another type): it wrote nothing. Each job is
   * then recorded on its own (registered as started first if it ran directly), the one at fault as
   * failed, as without group commit.
   */
  private async refused(batch: Waiting[], counts: JobCounts | '', next: NextBlock, err: unknown): Promise<void> {
    if (!isPermanentReply(err)) throw err;
    const w = this.worker;
    const claims = w.engine.lookahead;
    w.logger.error(`Could not record the results of ${batch.length} jobs in one call: ${err.message}; recording them one by one`);
    w.engine.counts.restore(counts);
    for (const e of batch) w.engine.counts.remove('successful', e.working);
    await claims.outcomeRefused(next);
    for (const e of batch) {
      if (!e.claimed) await claims.claimAlone(e.job);
      // Registered as started now: a death from here on is recorded from the StartedJobRegistry.
      claims.log?.confirmed([e.id]);
      await this.cleanup.finish(w, e.job, e.ended, e.working, e.fields, true);
    }
  }
}
