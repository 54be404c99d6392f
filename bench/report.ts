/** Rows of the result table, their comparisons with the peers, the printed table and bench/results.json. */
import { writeFileSync, renameSync } from 'node:fs';
import type { RoundResult } from './rq-workers.js';
import { median, percentile, round } from './stats.js';

export interface Comparison {
  peer: string;
  /** This row's jobs/s over the peer's (or, for `<=` targets, the measured ratio named in `peer`). */
  ratio: number;
  /** The target, when there is one. */
  target?: { op: '>=' | '<='; value: number };
  pass?: boolean;
}

export interface Row {
  scenario: string;
  system: string;
  /** Median over the rounds. */
  jobsPerSec: number | null;
  rounds: number[];
  /** Per-job cost (µs), for the drain scenario. */
  perJobUs?: number;
  latencyMs?: { p50: number; p99: number; min: number; max: number; samples: number; target?: { op: '<'; value: number }; pass?: boolean };
  /** Median over the rounds of VmRSS at the end of the throughput run, MiB: the worker process(es) and their children. */
  rssMiB?: { worker: number; children?: number; processes: number };
  comparisons: Comparison[];
  notes: string[];
  skipped?: string;
  /** Raw per-round details (window, wall time) for the JSON file. */
  details?: unknown;
}

export function skippedRow(scenario: string, system: string, reason: string): Row {
  return { scenario, system, jobsPerSec: null, rounds: [], comparisons: [], notes: [], skipped: reason };
}

/** A row from worker rounds: median jobs/s, latency pooled over the rounds, median RSS. */
export function workerRow(scenario: string, system: string, results: readonly RoundResult[]): Row {
  const rates = results.map((r) => r.throughput.jobsPerSec);
  const latencies = results.flatMap((r) => r.latenciesMs);
  const kib = (list: number[]): number => list.reduce((a, b) => a + b, 0);
  const row: Row = {
    scenario,
    system,
    jobsPerSec: median(rates),
    rounds: rates,
    comparisons: [],
    notes: [],
    details: results.map((r) => ({
      jobsPerSec: round(r.throughput.jobsPerSec, 1),
      countedJobs: r.throughput.jobs,
      windowMs: round(r.throughput.windowMs, 1),
      wallMsIncludingStartup: r.wallMs,
      workerRssKib: r.workerRssKib,
      childRssKib: r.childRssKib,
    })),
  };
  const notBlocked = results.reduce((n, r) => n + r.notBlocked, 0);
  if (notBlocked > 0) row.notes.push(`${notBlocked} latency sample(s) taken without seeing the worker blocked`);
  if (latencies.length > 0) {
    row.latencyMs = { p50: percentile(latencies, 50), p99: percentile(latencies, 99), min: Math.min(...latencies), max: Math.max(...latencies), samples: latencies.length };
  }
  if (results.length > 0) {
    const worker = median(results.map((r) => kib(r.workerRssKib))) / 1024;
    const childList = results.map((r) => kib(r.childRssKib));
    const rss: Row['rssMiB'] = { worker, processes: results[0]!.workerRssKib.length + results[0]!.childRssKib.length };
    if (childList.some((c) => c > 0)) rss.children = median(childList) / 1024;
    row.rssMiB = rss;
  }
  return row;
}

/** Adds "this row vs peer" (jobs/s ratio), with the minimum ratio when it sets one. */
export function compare(row: Row, peer: Row | undefined, minRatio?: number): void {
  if (!peer || row.jobsPerSec === null || peer.jobsPerSec === null) return;
  const ratio = row.jobsPerSec / peer.jobsPerSec;
  const c: Comparison = { peer: peer.system, ratio };
  if (minRatio !== undefined) {
    c.target = { op: '>=', value: minRatio };
    c.pass = ratio >= minRatio;
  }
  row.comparisons.push(c);
}

/** The latency target: an idle worker starts a job < `ms` (p50) after enqueue. */
export function latencyTarget(row: Row, ms: number): void {
  if (!row.latencyMs) return;
  row.latencyMs.target = { op: '<', value: ms };
  row.latencyMs.pass = row.latencyMs.p50 < ms;
}

function fmtRate(n: number | null): string {
  if (n === null) return '-';
  if (n >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(1);
}

function fmtComparison(c: Comparison): string {
  const target = c.target ? ` (target ${c.target.op} ${c.target.value}x: ${c.pass ? 'PASS' : 'FAIL'})` : '';
  return `${c.ratio.toFixed(2)}x ${c.peer}${target}`;
}

function fmtLatency(row: Row): string {
  if (!row.latencyMs) return '';
  const l = row.latencyMs;
  const target = l.target ? ` (p50 ${l.target.op} ${l.target.value} ms: ${l.pass ? 'PASS' : 'FAIL'})` : '';
  return `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}${target}`;
}

function fmtRss(row: Row): string {
  if (!row.rssMiB) return '';
  const r = row.rssMiB;
  return r.children !== undefined ? `${r.worker.toFixed(0)} + ${r.children.toFixed(0)}` : r.worker.toFixed(0);
}

/** The table: one line per row, further lines for its other comparisons and notes. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['scenario', 'system', 'jobs/s median (min..max)', 'ratio to peer', 'enqueue->start p50 / p99 ms', 'worker RSS MiB'];
  const lines: string[][] = [];
  let lastScenario = '';
  for (const row of rows) {
    const scenario = row.scenario === lastScenario ? '' : row.scenario;
    lastScenario = row.scenario;
    if (row.skipped) {
      lines.push([scenario, row.system, '-', `skipped: ${row.skipped}`, '', '']);
      continue;
    }
    const spread = row.rounds.length > 1 ? ` (${fmtRate(Math.min(...row.rounds))}..${fmtRate(Math.max(...row.rounds))})` : '';
    const perJob = row.perJobUs !== undefined ? `, ${row.perJobUs.toFixed(0)} us/job` : '';
    const rate = `${fmtRate(row.jobsPerSec)}${spread}${perJob}`;
    const extra = [...row.comparisons.map(fmtComparison), ...row.notes];
    lines.push([scenario, row.system, rate, extra[0] ?? '', fmtLatency(row), fmtRss(row)]);
    for (const more of extra.slice(1)) lines.push(['', '', '', more, '', '']);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  const out = [fmt(header), rule];
  lastScenario = '';
  for (const l of lines) {
    if (l[0] && out.length > 2) out.push(rule);
    out.push(fmt(l));
  }
  return out.join('\n');
}

/** Writes the JSON atomically (a .tmp file renamed over the old one). */
export function writeResults(file: string, data: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(data, roundNumbers, 2)}\n`);
  renameSync(tmp, file);
}

function roundNumbers(_key: string, value: unknown): unknown {
  if (typeof value !== 'number' || Number.isInteger(value)) return value;
  return Math.abs(value) >= 100 ? round(value, 1) : round(value, 3);
}
