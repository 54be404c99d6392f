import { untilAnswered } from './RedisOutage.js';
import type { Worker } from './Worker.js';

/** What an outcome script adds to the worker hash: successful_job_count, failed_job_count, total_working_time. */
export type JobCounts = readonly [successful: string, failed: string, workingTime: string];

/** A burst leaves at most this many jobs' counts, and this much working time, to a later script. */
const MAX_JOBS = 100;
const MAX_WORKING_S = 0.01;

/**
 * The job counts of one job engine that no outcome script has written to the worker hash yet.
 *
 * Writing them (HINCRBY, HINCRBYFLOAT) was about 6 % of Redis's work per job, HINCRBYFLOAT most of
 * it. So the outcome script of a success that goes straight on to a job taken ahead (launched: its
 * own outcome script follows) leaves its counts to that script, while the burst is short: fewer
 * than MAX_JOBS jobs and MAX_WORKING_S of working time. Any other outcome script writes all that
 * waits: a failure, the last job before the worker idles or stops, a slow job. So `rq info` and the
 * worker hash lag by at most that much during a burst of short jobs and are exact otherwise; a horse
 * or worker killed mid-burst leaves those counts unwritten (never its jobs' outcomes). Under
 * maxJobs nothing waits: a dead horse's jobs are counted from the worker hash.
 */
export class PendingCounts {
  private successful = 0;
  private failed = 0;
  private workingTime = 0;

  /**
   * Counts a job's outcome; returns what its outcome script writes: '' when `mayWait` and the burst is
   * still short, else everything that waits, this job included.
   */
  add(outcome: 'successful' | 'failed', working: number, mayWait: boolean): JobCounts | '' {
    this.count(outcome, working);
    if (mayWait && this.successful + this.failed < MAX_JOBS && this.workingTime < MAX_WORKING_S) return '';
    return this.take();
  }

  /** Counts a job's outcome that a group commit writes (all that waits: take()). */
  count(outcome: 'successful' | 'failed', working: number): void {
    if (outcome === 'successful') this.successful++;
    else this.failed++;
    this.workingTime += working;
  }

  /** Takes back a job counted by add() whose outcome will not be counted as that (its script was refused). */
  remove(outcome: 'successful' | 'failed', working: number): void {
    if (outcome === 'successful') this.successful--;
    else this.failed--;
    this.workingTime = Math.max(0, this.workingTime - working);
  }

  /** Counts a script carried that Redis refused (it wrote nothing): they wait for the next one. */
  restore(counts: JobCounts | ''): void {
    if (counts === '') return;
    this.successful += Number(counts[0]);
    this.failed += Number(counts[1]);
    this.workingTime += Number(counts[2]);
  }

  /**
   * Writes what still waits when the engine stops (its last outcome script wrote everything, unless
   * the job it launched was skipped as deleted): one MULTI.
   */
  async flush(w: Worker): Promise<void> {
    const counts = this.take();
    if (counts === '') return;
    await untilAnswered(w, 'record the job counts', () => {
      const m = w.connection.multi();
      if (counts[0] !== '0') m.hincrby(w.key, 'successful_job_count', counts[0]);
      if (counts[1] !== '0') m.hincrby(w.key, 'failed_job_count', counts[1]);
      return m.hincrbyfloat(w.key, 'total_working_time', counts[2]).exec();
    });
  }

  /** Everything that waits, for a script to write; '' when nothing does. */
  take(): JobCounts | '' {
    if (this.successful === 0 && this.failed === 0) return '';
    const counts: JobCounts = [String(this.successful), String(this.failed), this.workingTime.toFixed(6)];
    this.successful = 0;
    this.failed = 0;
    this.workingTime = 0;
    return counts;
  }
}
