/** What the scenarios share: running rounds, turning them into rows, and not letting one failure stop the run. */
import type { BenchContext } from '../context.js';
import { skippedRow, workerRow, type Row } from '../report.js';
import { runRqRound, type RoundResult, type RqRunOptions } from '../rq-workers.js';
import { median } from '../stats.js';

export interface Scenario {
  /** "1", "2", ...: BENCH_ONLY=1,3 runs those. */
  id: string;
  title: string;
  /** `previous`: the rows of the scenarios run before (for comparisons across scenarios). */
  run(ctx: BenchContext, previous: readonly Row[]): Promise<Row[]>;
}

/**
 * Jobs run before the measured ones by each Node worker (rq-ts and BullMQ alike), so that module
 * loading, script loading and V8's JIT warm-up are not counted: a worker runs for hours, and the
 * table is about its steady state. V8 optimizes rq-ts's per-job path only after some thousands of
 * jobs (with `--interrupt-budget=8000` after ~1,500: docs/performance.md); after 200 jobs, as this
 * was before, both systems ran partly unoptimized code. python-rq gets 5 (no JIT; it forks).
 */
export const NODE_WARMUP = 5000;
export const PYTHON_WARMUP = 5;

/** A 1 KB string argument (ASCII, so 1024 bytes once serialized). */
export const PAYLOAD_1KB = 'abcdefghijklmnopqrstuvwxyz012345'.repeat(32);

/** ~200 latency samples in all, spread over the rounds. */
export function latencyPerRound(ctx: BenchContext, total = 200): number {
  return Math.ceil(total / ctx.rounds);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function errorRow(ctx: BenchContext, scenario: string, system: string, err: unknown): Row {
  const message = err instanceof Error ? err.message : String(err);
  ctx.log(`  ${system}: ERROR ${message}`);
  ctx.failures.push(`${scenario} / ${system}: ${message}`);
  return skippedRow(scenario, system, `ERROR ${message.split('\n')[0]}`);
}

/** One system of a scenario: a worker measurement (rounds of RoundResult) or a rate (rounds of jobs/s). */
export type Entry =
  | { system: string; worker: (i: number) => Promise<RoundResult> }
  | { system: string; rate: (i: number) => Promise<number> }
  | { system: string; skipped: string };

/**
 * Runs every entry ctx.rounds times, interleaved (round 1 of each, then round 2 of each, ...) so that
 * a change in the machine's load hits all systems alike; one row per entry, in order. Each round
 * starts one entry further on: the first run of a round came out slower (9 rounds of scenario 3:
 * rq-ts's enqueue, run first, was below the baseline's in 8, and above it once the two swapped
 * places), and rotating gives every system each place alike. An entry that fails becomes an ERROR
 * row and the others go on.
 */
export async function measureAll(ctx: BenchContext, scenario: string, entries: readonly Entry[]): Promise<Row[]> {
  const workerResults = entries.map((): RoundResult[] => []);
  const rates = entries.map((): number[] => []);
  const errors = entries.map((): Row | null => null);
  for (let i = 0; i < ctx.rounds; i++) {
    for (let j = 0; j < entries.length; j++) {
      const k = (i + j) % entries.length;
      const entry = entries[k]!;
      if (errors[k] || 'skipped' in entry) continue;
      try {
        if ('worker' in entry) {
          const r = await entry.worker(i);
          workerResults[k]!.push(r);
          ctx.log(`  ${entry.system}: round ${i + 1}/${ctx.rounds} ${fmt(r.throughput.jobsPerSec)} jobs/s`);
        } else {
          const r = await entry.rate(i);
          rates[k]!.push(r);
          ctx.log(`  ${entry.system}: round ${i + 1}/${ctx.rounds} ${fmt(r)} jobs/s`);
        }
      } catch (err) {
        errors[k] = errorRow(ctx, scenario, entry.system, err);
      }
    }
  }
  return entries.map((entry, k): Row => {
    if (errors[k]) return errors[k];
    if ('skipped' in entry) return skippedRow(scenario, entry.system, entry.skipped);
    if ('worker' in entry) return workerRow(scenario, entry.system, workerResults[k]!);
    return { scenario, system: entry.system, jobsPerSec: median(rates[k]!), rounds: rates[k]!, comparisons: [], notes: [] };
  });
}

/** Runs `round` ctx.rounds times, or fewer when another round would pass `budgetMs`; one row. */
export async function measureWorker(
  ctx: BenchContext,
  scenario: string,
  system: string,
  round: (i: number) => Promise<RoundResult>,
  budgetMs = Infinity,
): Promise<Row> {
  const results: RoundResult[] = [];
  const started = Date.now();
  try {
    for (let i = 0; i < ctx.rounds; i++) {
      const t = Date.now();
      const r = await round(i);
      results.push(r);
      ctx.log(`  ${system}: round ${i + 1}/${ctx.rounds} ${fmt(r.throughput.jobsPerSec)} jobs/s`);
      const last = Date.now() - t;
      if (i + 1 < ctx.rounds && Date.now() - started + last > budgetMs) {
        ctx.log(`  ${system}: stopping after ${i + 1} round(s) to keep the run short (one takes ${fmt(last / 1000)} s)`);
        break;
      }
    }
  } catch (err) {
    return errorRow(ctx, scenario, system, err);
  }
  const row = workerRow(scenario, system, results);
  if (results.length < ctx.rounds) row.notes.push(`${results.length} of ${ctx.rounds} rounds (time budget)`);
  return row;
}

/** The system of a BENCH_BASELINE row: `<baseline label> <what>` (a worker class, a Queue method). */
export function baselineSystem(ctx: BenchContext, what: string): string {
  return `${ctx.baseline?.label ?? 'rq-ts@baseline'} ${what}`;
}

/** The BENCH_BASELINE checkout's CLI worker on the same jobs, as one more entry: none without BENCH_BASELINE. */
export function baselineWorker(ctx: BenchContext, opts: Omit<RqRunOptions, 'system'>): Entry[] {
  if (!ctx.baseline) return [];
  return [{ system: baselineSystem(ctx, opts.workerClass), worker: () => runRqRound(ctx, { ...opts, system: 'baseline' }) }];
}

/** Rows by system, in the order asked; a skipped or failed row too (findRow leaves those out), undefined when absent. */
export function rowsOf(rows: readonly Row[], ...systems: string[]): (Row | undefined)[] {
  return systems.map((system) => rows.find((r) => r.system === system));
}

export function findRow(rows: readonly Row[], system: string): Row | undefined {
  return rows.find((r) => r.system === system && !r.skipped);
}
