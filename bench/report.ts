/** Rows of the result tables, their comparisons with the peers, the printed tables and bench/results.json. */
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
  /** Jobs/s over the first jobs after the spawn (stats.coldThroughput): median, rounds, and its comparisons. */
  cold?: { jobsPerSec: number; rounds: number[]; jobs: number; comparisons: Comparison[] };
  /** Medians over the rounds of what one job cost over the whole throughput run (warm-up jobs and start-up included). */
  cost?: RowCost;
  notes: string[];
  skipped?: string;
  /** Raw per-round details (window, wall time) for the JSON file. */
  details?: unknown;
}

export interface RowCost {
  /** redis-server CPU (INFO cpu). */
  redisCpuUs: number;
  /** Commands per job as INFO commandstats counts them: a script's own commands count besides its EVALSHA or FCALL. */
  redisCalls: number;
  scriptCalls: number;
  /** Redis's time inside one script call, EVALSHA or FCALL (commandstats usec / calls); null when none ran. */
  scriptUsPerCall: number | null;
  /** Redis's time in XADD per job (commandstats): rq's result streams, BullMQ's events stream. */
  xaddUs: number;
  /** CPU of the worker process(es), and of their descendants (horse, sandbox, reaped forks). */
  workerCpuUs: number;
  childCpuUs: number;
  /** The busiest thread of those processes: CPU per job, and its share of the run's wall time. */
  busiestThreadUs: number;
  busiestThreadBusy: number;
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
      cold: r.cold,
      redis: r.redis,
      cpu: r.cpu,
      workerRssKib: r.workerRssKib,
      childRssKib: r.childRssKib,
    })),
  };
  if (results.length > 0) {
    const cold = results.map((r) => r.cold.jobsPerSec);
    row.cold = { jobsPerSec: median(cold), rounds: cold, jobs: results[0]!.cold.jobs, comparisons: [] };
    const perCall = results.map((r) => r.redis.scriptUsPerCall).filter((v): v is number => v !== null);
    row.cost = {
      redisCpuUs: median(results.map((r) => r.redis.cpuUsPerJob)),
      redisCalls: median(results.map((r) => r.redis.callsPerJob)),
      scriptCalls: median(results.map((r) => r.redis.scriptCallsPerJob)),
      scriptUsPerCall: perCall.length > 0 ? median(perCall) : null,
      xaddUs: median(results.map((r) => r.redis.xaddUsPerJob)),
      workerCpuUs: median(results.map((r) => r.cpu.workerUsPerJob)),
      childCpuUs: median(results.map((r) => r.cpu.childUsPerJob)),
      busiestThreadUs: median(results.map((r) => r.cpu.busiestThreadUsPerJob)),
      busiestThreadBusy: median(results.map((r) => r.cpu.busiestThreadBusy)),
    };
  }
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

/** Adds "this row's cold rate vs peer's" (cold jobs/s ratio). */
export function compareCold(row: Row | undefined, peer: Row | undefined): void {
  if (!row?.cold || !peer?.cold) return;
  row.cold.comparisons.push({ peer: peer.system, ratio: row.cold.jobsPerSec / peer.cold.jobsPerSec });
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

function fmtRange(values: readonly number[]): string {
  return values.length > 1 ? ` (${fmtRate(Math.min(...values))}..${fmtRate(Math.max(...values))})` : '';
}

function fmtUs(n: number | null): string {
  if (n === null) return '-';
  return n >= 10 ? Math.round(n).toLocaleString('en-US') : n.toFixed(1);
}

/**
 * Lays out rows of cells: the first cell of a line is its scenario (blank when it repeats the one above),
 * then `cells` (system first); a rule between scenarios. `extra` (ratios, notes) fills the fourth column,
 * one line each.
 */
function layout(header: string[], rows: readonly { scenario: string; cells: string[]; extra: string[] }[]): string {
  const extraColumn = 3;
  const lines: string[][] = [];
  const scenarioStarts = new Set<number>();
  let lastScenario = '';
  for (const row of rows) {
    const first = row.scenario === lastScenario ? '' : row.scenario;
    if (first) scenarioStarts.add(lines.length);
    lastScenario = row.scenario;
    const cells = [first, ...row.cells];
    cells[extraColumn] = row.extra[0] ?? '';
    lines.push(cells);
    for (const more of row.extra.slice(1)) lines.push(header.map((_, i) => (i === extraColumn ? more : '')));
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ').trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('-|-');
  const out = [fmt(header), rule];
  lines.forEach((l, i) => {
    if (scenarioStarts.has(i) && i > 0) out.push(rule);
    out.push(fmt(l));
  });
  return out.join('\n');
}

/** Throughput: steady-state jobs/s and its ratios, latency, RSS; one line per row, more for further comparisons and notes. */
export function formatTable(rows: readonly Row[]): string {
  const header = ['scenario', 'system', 'jobs/s median (min..max)', 'ratio to peer', 'enqueue->start p50 / p99 ms', 'worker RSS MiB'];
  return layout(
    header,
    rows.map((row) => {
      if (row.skipped) return { scenario: row.scenario, cells: [row.system, '-', '', '', ''], extra: [`skipped: ${row.skipped}`] };
      const perJob = row.perJobUs !== undefined ? `, ${row.perJobUs.toFixed(0)} us/job` : '';
      const rate = `${fmtRate(row.jobsPerSec)}${fmtRange(row.rounds)}${perJob}`;
      return { scenario: row.scenario, cells: [row.system, rate, '', fmtLatency(row), fmtRss(row)], extra: [...row.comparisons.map(fmtComparison), ...row.notes] };
    }),
  );
}

/**
 * Cold start and cost per job, for the worker rows: what explains the throughput table. Costs are over
 * the whole throughput run (warm-up jobs and start-up included), divided by the jobs it ran.
 */
export function formatCostTable(rows: readonly Row[]): string {
  const header = [
    'scenario',
    'system',
    'cold jobs/s, first 1,000 (min..max)',
    'cold ratio to peer',
    'Redis CPU us/job',
    'Redis cmds/job',
    'script calls/job',
    'script us/call',
    'XADD us/job',
    'worker CPU us/job (+ children)',
    'busiest thread us/job (busy)',
  ];
  return layout(
    header,
    rows
      .filter((row) => row.cold && row.cost)
      .map((row) => {
        const cold = row.cold!;
        const c = row.cost!;
        const coldJobs = cold.jobs < 1000 ? ` over ${cold.jobs} jobs` : '';
        const cpu = c.childCpuUs > 0 ? `${fmtUs(c.workerCpuUs)} + ${fmtUs(c.childCpuUs)}` : fmtUs(c.workerCpuUs);
        return {
          scenario: row.scenario,
          cells: [
            row.system,
            `${fmtRate(cold.jobsPerSec)}${fmtRange(cold.rounds)}${coldJobs}`,
            '',
            fmtUs(c.redisCpuUs),
            c.redisCalls.toFixed(1),
            c.scriptCalls.toFixed(1),
            fmtUs(c.scriptUsPerCall),
            fmtUs(c.xaddUs),
            cpu,
            `${fmtUs(c.busiestThreadUs)} (${Math.round(c.busiestThreadBusy * 100)} %)`,
          ],
          extra: cold.comparisons.map((x) => `${x.ratio.toFixed(2)}x ${x.peer}`),
        };
      }),
  );
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
