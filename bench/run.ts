/**
 * `npm run bench`: rq-ts against BullMQ and python-rq (and another rq-ts build) on a throwaway
 * redis-server. Prints a throughput table and a cold-start and cost table, and writes
 * bench/results.json. Not part of `npm test`: nothing here asserts, it only measures.
 *
 * Environment: BENCH_ROUNDS (default 3), BENCH_SCALE (job counts x this, default 1),
 * BENCH_ONLY=1,3 (scenario numbers), RQ_PYTHON (a python3 that can `import rq`),
 * BENCH_BASELINE (a built rq-ts checkout measured alongside, in scenarios 1-4).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBaseline } from './baseline.js';
import { bullmqVersion } from './bullmq.js';
import { BenchInputError, envNumber, type BenchContext } from './context.js';
import { killAll } from './procs.js';
import { findPythonRq } from './python.js';
import { startRedis, type BenchRedis } from './redis.js';
import { formatCostTable, formatTable, writeResults, type Row } from './report.js';
import { NODE_WARMUP, PYTHON_WARMUP, type Scenario } from './scenarios/common.js';
import { COLD_JOBS } from './stats.js';
import { defaultWorker } from './scenarios/default-worker.js';
import { DRAIN_WARMUP, drain } from './scenarios/drain.js';
import { enqueueBulk, enqueueOneByOne } from './scenarios/enqueue.js';
import { ioConcurrency } from './scenarios/io-concurrency.js';
import { multiWorker } from './scenarios/multi-worker.js';
import { payloadJobs } from './scenarios/payload.js';
import { simpleWorker } from './scenarios/simple-worker.js';
import { smallStreamNodes } from './scenarios/small-stream-nodes.js';

const SCENARIOS: Scenario[] = [defaultWorker, simpleWorker, enqueueOneByOne, enqueueBulk, payloadJobs, multiWorker, drain, ioConcurrency, smallStreamNodes];
/** The whole run is killed past this, whatever hangs. */
const RUN_LIMIT_MS = 20 * 60_000;

// dist/bench/run.js -> the repository root.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function main(): Promise<number> {
  if (!existsSync(join(repoRoot, 'dist/lib/cli/main.js'))) throw new BenchInputError('dist/lib/cli/main.js is missing: run `npm run build` first');
  const rounds = Math.round(envNumber('BENCH_ROUNDS', 3));
  const scale = envNumber('BENCH_SCALE', 1);
  const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',').map((s) => s.trim())) : null;
  const scenarios = SCENARIOS.filter((s) => !only || only.has(s.id));
  const baseline = findBaseline();

  const workDir = mkdtempSync(join(tmpdir(), 'rq-ts-bench-'));
  const logDir = join(workDir, 'logs');
  mkdirSync(logDir);
  let redis: BenchRedis | null = null;
  const cleanup = (): void => {
    killAll();
    redis?.kill();
    rmSync(workDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
    cleanup();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', cleanup);
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: the run passed ${RUN_LIMIT_MS / 60_000} minutes; killed\n`);
    cleanup();
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();

  const startedAt = new Date();
  try {
    redis = await startRedis();
    const { python, note: pythonNote } = findPythonRq(workDir);
    const log = (line: string): void => void process.stdout.write(`${line}\n`);
    const ctx: BenchContext = { repoRoot, workDir, logDir, redis, python, baseline, rounds, scale, log, failures: [] };
    const env = {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      loadAverageAtStart: loadavg(),
      redis: redis.version,
      bullmq: bullmqVersion(),
      pythonRq: python ? python.version : null,
      baseline: baseline ? { root: baseline.root, commit: baseline.commit } : null,
      rounds,
      scale,
    };
    log(`rq-ts benchmark: node ${env.node}, ${env.cpus} cpus (load ${env.loadAverageAtStart.map((l) => l.toFixed(2)).join(' ')}), redis-server ${env.redis} at ${redis.url}`);
    log(`peers: BullMQ ${env.bullmq}; ${pythonNote}`);
    if (baseline) log(`baseline: ${baseline.label} from ${baseline.root} (scenarios 1-4)`);
    log(`${rounds} round(s) per measurement, job counts x${scale}; rq-ts and python-rq workers run from their CLIs at default settings (INFO logging to a file)\n`);

    const rows: Row[] = [];
    for (const scenario of scenarios) {
      log(scenario.title);
      const t = Date.now();
      rows.push(...(await scenario.run(ctx, rows)));
      log(`  (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    }

    log('');
    log(formatTable(rows));
    log('');
    log(formatCostTable(rows));
    const took = (Date.now() - startedAt.getTime()) / 1000;
    log(`\nTook ${took.toFixed(0)} s. jobs/s: median of the rounds, counted after warm-up jobs (steady state, process start-up excluded);`);
    log('latency: job started_at (rq) / processedOn (BullMQ) minus the time just before enqueue, on an idle worker blocked on an empty queue;');
    log('RSS: VmRSS at the end of the throughput run, worker + its child processes (horse, BullMQ sandbox).');
    log(`cold: the first ${COLD_JOBS.toLocaleString('en-US')} jobs by start time, from the worker's spawn to the last one's end (start-up included);`);
    log('costs: whole throughput run (warm-up and start-up included) / jobs run; Redis from INFO cpu and INFO commandstats (cmds count the');
    log('commands run inside scripts too), worker CPU from /proc/<pid>/stat utime+stime (+ its descendants, live or reaped).');
    const file = join(repoRoot, 'bench/results.json');
    writeResults(file, {
      startedAt: startedAt.toISOString(),
      seconds: took,
      environment: { ...env, loadAverageAtEnd: loadavg() },
      method: {
        jobsPerSec: `median over rounds; each round: fresh database, jobs pre-enqueued, worker(s) started, rate = jobs ended in the steady window / window (the window opens when every worker has run its warm-up jobs: ${NODE_WARMUP.toLocaleString('en-US')} for Node workers, ${DRAIN_WARMUP.toLocaleString('en-US')} in the drain scenario, ${PYTHON_WARMUP} for python-rq; it closes when the first worker runs out of work)`,
        latencyMs: 'started_at (rq; rq-ts +0.5 ms for its whole-ms timestamps) or processedOn + 0.5 (BullMQ) minus a sub-ms clock read just before enqueue; idle worker; samples pooled over rounds',
        rssMiB: 'VmRSS from /proc at the end of the throughput run (median over rounds); children = horse (rq-ts Worker) or sandbox process (BullMQ)',
        cold: `jobs/s over the first ${COLD_JOBS} jobs by start time (or all of a shorter run), from the worker processes' spawn to the end of the last of them; median over rounds`,
        cost: 'per job run in the throughput run (warm-up jobs and start-up included, latency part excluded), median over rounds: Redis CPU = delta of INFO cpu used_cpu_user + used_cpu_sys; Redis cmds = delta of INFO commandstats calls over every command (commands run by scripts are counted besides their EVALSHA or FCALL, so usec sums count script time twice); script us/call = delta of cmdstat_evalsha + cmdstat_fcall usec / calls; worker CPU = utime + stime from /proc/<pid>/stat just before the workers are stopped, children = live descendants (utime + stime + their reaped children) + the worker\'s cutime + cstime',
      },
      rows,
      failures: ctx.failures,
    });
    log(`Wrote ${file}`);
    if (ctx.failures.length > 0) {
      log(`\n${ctx.failures.length} measurement(s) failed:\n${ctx.failures.join('\n')}`);
      return 1;
    }
    return 0;
  } finally {
    clearTimeout(watchdog);
    killAll();
    await redis?.stop();
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const text = err instanceof BenchInputError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`bench failed: ${text}\n`);
    process.exitCode = 1;
  },
);
