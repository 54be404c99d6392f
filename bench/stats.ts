/** Numbers: medians, percentiles, and throughput from per-job start/end times. */

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100); NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** When one job started and ended (epoch ms, fractional), and which worker ran it. */
export interface JobTimes {
  start: number;
  end: number;
  worker: string;
}

export interface Throughput {
  jobsPerSec: number;
  /** Jobs counted and the window they were counted in (ms). */
  jobs: number;
  windowMs: number;
}

/**
 * Steady-state throughput: the window opens when every worker has started its `warmup`-th job (module
 * imports, script loading and process start-up are left out) and closes when the first worker runs out
 * of work; the rate is the number of jobs that ended inside it over its length. With one worker that is
 * (N - warmup) jobs over first-measured-start .. last-end.
 */
export function steadyThroughput(times: readonly JobTimes[], warmup: number): Throughput {
  const byWorker = new Map<string, JobTimes[]>();
  for (const t of times) {
    const list = byWorker.get(t.worker) ?? [];
    list.push(t);
    byWorker.set(t.worker, list);
  }
  let open = -Infinity;
  let close = Infinity;
  for (const list of byWorker.values()) {
    list.sort((a, b) => a.start - b.start);
    const first = list[Math.min(warmup, list.length - 1)]!;
    open = Math.max(open, first.start);
    close = Math.min(close, Math.max(...list.map((t) => t.end)));
  }
  const jobs = times.filter((t) => t.end > open && t.end <= close).length;
  const windowMs = close - open;
  if (!(windowMs > 0) || jobs === 0) throw new Error(`no steady window in ${times.length} jobs (window ${windowMs} ms)`);
  return { jobsPerSec: (jobs * 1000) / windowMs, jobs, windowMs };
}

export interface ColdThroughput {
  jobsPerSec: number;
  /** Jobs counted (COLD_JOBS, or every job of a shorter run) and the time from the spawn to the last one's end, ms. */
  jobs: number;
  ms: number;
  /** Spawn to the first job's start, ms: process start-up, imports, connecting, registering. */
  firstStartMs: number;
}

/** Jobs counted by coldThroughput: what a freshly started worker does in its first second or so. */
export const COLD_JOBS = 1000;

/**
 * Cold throughput: the first COLD_JOBS jobs by start time, from the workers' spawn to the end of the
 * last of them, so start-up, imports, script loading and unoptimized code are all in it (a worker
 * restarted by a deploy or an autoscaler pays them all, the steady window none).
 */
export function coldThroughput(times: readonly JobTimes[], spawnedAt: number): ColdThroughput {
  const first = [...times].sort((a, b) => a.start - b.start).slice(0, COLD_JOBS);
  if (first.length === 0) throw new Error('no jobs to measure a cold rate on');
  const ms = Math.max(...first.map((t) => t.end)) - spawnedAt;
  return { jobsPerSec: (first.length * 1000) / ms, jobs: first.length, ms, firstStartMs: first[0]!.start - spawnedAt };
}

/** rq's timestamp (`%Y-%m-%dT%H:%M:%S.%fZ`, 1-6 fraction digits) as epoch ms with its sub-ms part. */
export function parseRqTime(s: string | null | undefined): number | null {
  if (!s) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z?$/.exec(s);
  if (!m) return null;
  const whole = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  const micros = m[7] ? Number(m[7].padEnd(6, '0')) : 0;
  return whole + micros / 1000;
}

/**
 * Wall-clock epoch ms with sub-millisecond resolution, aligned to Date.now() (which other processes'
 * timestamps come from): performance.now() offset by an edge of Date.now()'s millisecond tick.
 */
export function makeClock(): () => number {
  const start = Date.now();
  let edge = Date.now();
  while (edge === start) edge = Date.now();
  const offset = edge - (performance.timeOrigin + performance.now());
  return () => performance.timeOrigin + performance.now() + offset;
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
