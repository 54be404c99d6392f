import type { Baseline } from './baseline.js';
import type { BenchRedis } from './redis.js';
import type { PythonRq } from './python.js';

/** What every scenario gets: where things are, the throwaway Redis, python-rq when installed. */
export interface BenchContext {
  repoRoot: string;
  /** Temporary folder (cwd of the workers, python module, BullMQ processor copy), removed at the end. */
  workDir: string;
  /** Worker output, kept there for error messages. */
  logDir: string;
  redis: BenchRedis;
  python: PythonRq | null;
  /** Another rq-ts checkout measured alongside (BENCH_BASELINE), or null. */
  baseline: Baseline | null;
  /** Rounds per measurement (the table shows the median). */
  rounds: number;
  /** Multiplies job counts (BENCH_SCALE, default 1; e.g. 0.1 for a quick look). */
  scale: number;
  log(line: string): void;
  /** Measurements that failed (each also shown in the table); the run exits 1 when there are any. */
  failures: string[];
}

/** A job count scaled by BENCH_SCALE, never below `min`. */
export function scaled(ctx: BenchContext, n: number, min = 100): number {
  return Math.max(min, Math.round(n * ctx.scale));
}

/** Bad input (an environment variable, a missing build): printed as its one-line message, without a stack. */
export class BenchInputError extends Error {}

/** A positive number from the environment variable `name`, or `fallback` when it is unset or empty. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new BenchInputError(`${name}=${raw}: expected a positive number`);
  return n;
}
