import { Command, InvalidArgumentError } from './commander.js';
import { allCronSchedulers, type CronJobInfo } from '../CronScheduler.js';
import type { Queue } from '../Queue.js';
import { FailedJobRegistry } from '../registries/FailedJobRegistry.js';
import { FinishedJobRegistry } from '../registries/FinishedJobRegistry.js';
import { countAll, REGISTRY_NAMES } from '../registries/byName.js';
import { StartedJobRegistry } from '../registries/StartedJobRegistry.js';
import { sleep } from '../suspension.js';
import type { Worker } from '../Worker.js';
import { openCli, type CliContext } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { cleanWorkerRegistry } from '../registries/workerRegistry.js';
import { pythonNow, style, type Style } from './style.js';

interface InfoFlags extends SharedFlags {
  interval?: number;
  raw?: boolean;
  onlyQueues?: boolean;
  onlyWorkers?: boolean;
  byQueue?: boolean;
  registries?: boolean;
}

function seconds(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`'${value}' is not a number of seconds >= 0.`);
  return n;
}

/** `rq info [QUEUES...]`: queue sizes and workers, once or every `-i` seconds. */
export function infoCommand(): Command {
  const cmd = new Command('info')
    .description('RQ command-line monitor.')
    .argument('[queues...]', 'queues to show (default: every queue in rq:queues)')
    .option('-i, --interval <seconds>', "Updates stats every N seconds (default: don't poll)", seconds)
    .option('-r, --raw', 'Print only the raw numbers, no bar charts')
    .option('-Q, --only-queues', 'Show only queue info')
    .option('-W, --only-workers', 'Show only worker info')
    .option('-R, --by-queue', 'Shows workers by queue')
    .option('--registries', "Also count each queue's registries (started, scheduled, deferred, finished, failed, canceled)");
  addSharedOptions(cmd);
  cmd.action(async (queues: string[], flags: InfoFlags) => {
    process.exitCode = await runInfo(queues, flags);
  });
  return cmd;
}

/**
 * rq-wire-protocol.md §6 steps 1-2: the queues (arguments, else `rq:queues`), each with its
 * registries cleaned as rq's clean_registries does, without the maintenance lock (expired
 * started jobs move to the FailedJobRegistry), and its dead workers dropped.
 */
async function loadQueues(cli: CliContext, names: string[]): Promise<Queue[]> {
  const queues = names.length > 0 ? names.map((n) => new cli.queueClass(n, cli.queueOptions())) : await cli.queueClass.all(cli.queueOptions());
  const options = cli.registryOptions();
  for (const q of queues) {
    await new FinishedJobRegistry(q.name, options).cleanup();
    await new StartedJobRegistry(q.name, options).cleanup();
    await new FailedJobRegistry(q.name, options).cleanup();
    await cleanWorkerRegistry(cli.connection, q.name);
  }
  return queues;
}

/**
 * Step 3: the workers of each queue shown (members of `rq:workers:<q>`), or every worker
 * (`rq:workers`) when there are no queues; a key without its hash is dropped as rq does.
 */
async function loadWorkers(cli: CliContext, queues: Queue[]): Promise<{ all: Worker[]; byQueue: Worker[][] }> {
  const extra = { ...(cli.jobClass ? { jobClass: cli.jobClass } : {}), ...(cli.serializer ? { serializer: cli.serializer } : {}) };
  const byQueue = await Promise.all(queues.map((queue) => cli.workerClass.all({ queue, ...extra })));
  const found = queues.length > 0 ? byQueue.flat() : await cli.workerClass.all({ connection: cli.connection, ...extra });
  const byName = new Map<string, Worker>();
  for (const w of found) byName.set(w.name, w);
  return { all: [...byName.values()].sort(byWorkerName), byQueue: byQueue.map((list) => [...list].sort(byWorkerName)) };
}

const byWorkerName = (a: Worker, b: Worker): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** How many columns the bars may use: rq's get_terminal_size (COLUMNS, else the terminal, else 80). */
function terminalColumns(): number {
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return env;
  return process.stdout.isTTY && process.stdout.columns ? process.stdout.columns : 80;
}

/** The lowest of rq's chart scales that fits `x`. */
function scaleFor(x: number): number {
  return [20, 50, 100, 200, 400, 600, 800, 1000].find((s) => x <= s) ?? x;
}

/** `, 1 started, 11 finished, 7 failed, ...`: what --registries adds to a queue's line. */
async function registryText(cli: CliContext, queue: Queue): Promise<string> {
  const counts = await countAll(queue, cli.registryOptions());
  return REGISTRY_NAMES.filter((n) => n !== 'queued')
    .map((n) => `, ${counts[n]} ${n}`)
    .join('');
}

async function queueLines(cli: CliContext, queues: Queue[], raw: boolean, registries: boolean, s: Style): Promise<string[]> {
  const counts = await Promise.all(queues.map((q) => q.count()));
  const extra = registries ? await Promise.all(queues.map((q) => registryText(cli, q))) : queues.map(() => '');
  const chartWidth = Math.min(20, terminalColumns() - 20);
  const ratio = chartWidth / scaleFor(Math.max(0, ...counts));
  const lines = queues.map((q, i) => {
    const count = counts[i]!;
    if (raw) return `queue ${q.name} ${count}${extra[i]}`;
    const chart = s.green(`|${'█'.repeat(Math.max(0, Math.floor(ratio * count)))}`);
    return `${q.name.padEnd(12)} ${chart} ${count}${extra[i]}`;
  });
  if (!raw) lines.push(`${queues.length} queues, ${counts.reduce((a, b) => a + b, 0)} jobs total`);
  return lines;
}

function stateOf(w: Worker, s: Style): string {
  const state = w.state ?? '?';
  if (state === 'busy') return s.red(state);
  if (state === 'idle') return s.green(state);
  if (state === 'suspended') return s.yellow(state);
  return state;
}

async function workerLines(cli: CliContext, queues: Queue[], raw: boolean, byQueue: boolean, s: Style): Promise<string[]> {
  const { all: workers, byQueue: perQueue } = await loadWorkers(cli, queues);
  const lines: string[] = [];
  if (!byQueue) {
    for (const w of workers) {
      const name = `${w.name} (${w.hostname} ${w.ipAddress} ${w.pid})`;
      const queueNames = w.queueNames.join(', ');
      lines.push(raw ? `worker ${name} ${w.state ?? '?'} ${queueNames}` : `${name}: ${stateOf(w, s)} ${queueNames}`);
    }
  } else {
    const width = Math.max(0, ...queues.map((q) => q.name.length)) + 1;
    for (const [i, queue] of queues.entries()) {
      const listening = perQueue[i] ?? [];
      const text = listening.length > 0 ? listening.map((w) => `${w.name} (${stateOf(w, s)})`).join(', ') : '–';
      lines.push(`${`${queue.name}:`.padEnd(width)} ${text}`);
    }
  }
  if (!raw) lines.push(`${workers.length} workers, ${queues.length} queues`);
  return lines;
}

/** `2026-12-06 05:10:02 UTC`: what a cron scheduler's times show as (seconds are enough). */
function utcText(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function scheduleText(j: CronJobInfo): string {
  return j.interval !== null ? `every ${j.interval} s` : j.cron !== null ? `cron '${j.cron}'` : 'no schedule';
}

/**
 * The cron schedulers running (`rq:cron_schedulers`, ours and python-rq 2.x's alike), each with the jobs
 * its hash says it enqueues. rq 2.10's own `rq info` does not show them; nothing is added when there are none,
 * so the output stays rq's. Stale ones are dropped first, as 2.x's CronScheduler.all() does.
 */
async function cronLines(cli: CliContext, raw: boolean): Promise<string[]> {
  const schedulers = await allCronSchedulers(cli.connection);
  if (schedulers.length === 0) return [];
  const now = Date.now();
  const lines: string[] = [];
  for (const c of schedulers) {
    const beat = `${utcText(c.lastHeartbeat)} (${Math.max(0, Math.round((now - c.lastHeartbeat.getTime()) / 1000))} s ago)`;
    if (raw) lines.push(`cron_scheduler ${c.name} ${c.hostname} ${c.pid} ${c.lastHeartbeat.toISOString()} ${c.configFile || '-'}`);
    else lines.push(`${c.name} (${c.hostname} ${c.pid}): cron scheduler, last heartbeat ${beat}${c.configFile ? `, config ${c.configFile}` : ''}`);
    if (c.jobs === null) {
      if (!raw) lines.push('  (its jobs are not known: no readable cron_jobs in its hash)');
      continue;
    }
    for (const j of c.jobs) {
      const next = j.nextEnqueue ? utcText(j.nextEnqueue) : '-';
      if (raw) lines.push(`cron_job ${c.name} ${j.func} ${j.queueName} ${j.interval !== null ? `interval=${j.interval}` : `cron=${JSON.stringify(j.cron)}`} next=${j.nextEnqueue?.toISOString() ?? '-'}`);
      else lines.push(`  ${j.func} on ${j.queueName} ${scheduleText(j)}, next ${next}${j.latestEnqueue ? `, last ${utcText(j.latestEnqueue)}` : ''}`);
    }
  }
  if (!raw) lines.push(`${schedulers.length} cron scheduler${schedulers.length === 1 ? '' : 's'}`);
  return lines;
}

/**
 * The scheduler trap (#17): a queue whose ScheduledJobRegistry holds jobs (enqueueIn/enqueueAt, or
 * failed jobs waiting out a retry interval) while no scheduler holds `rq:scheduler-lock:<q>`: those
 * jobs wait forever. One warning line per such queue, for stderr so that stdout keeps rq's lines.
 */
async function schedulerWarnings(cli: CliContext, queues: Queue[]): Promise<string[]> {
  const pipeline = cli.connection.pipeline();
  for (const q of queues) pipeline.zcard(cli.keys.scheduled(q.name)).exists(cli.keys.schedulerLock(q.name));
  const replies = (await pipeline.exec()) ?? [];
  const warnings: string[] = [];
  for (const [i, q] of queues.entries()) {
    const [[countErr, count], [lockErr, locked]] = [replies[2 * i]!, replies[2 * i + 1]!];
    if (countErr) throw countErr;
    if (lockErr) throw lockErr;
    if ((count as number) > 0 && (locked as number) === 0) {
      warnings.push(
        `Warning: queue '${q.name}' has ${count as number} scheduled job(s) (${cli.keys.scheduled(q.name)}) but no scheduler runs for it ` +
          `(no ${cli.keys.schedulerLock(q.name)}): they wait until a worker runs with --with-scheduler (rq worker --with-scheduler ${q.name})`,
      );
    }
  }
  return warnings;
}

/** One screen of `rq info`, as rq's show_queues / show_workers / show_both print it. */
async function frame(cli: CliContext, names: string[], flags: InfoFlags, s: Style): Promise<{ text: string; warnings: string[] }> {
  const queues = await loadQueues(cli, names);
  const warnings = flags.onlyWorkers ? [] : await schedulerWarnings(cli, queues);
  const raw = flags.raw ?? false;
  const byQueue = flags.byQueue ?? false;
  let lines: string[];
  if (flags.onlyQueues) lines = await queueLines(cli, queues, raw, flags.registries ?? false, s);
  else if (flags.onlyWorkers) lines = withCron(await workerLines(cli, queues, raw, byQueue, s), await cronLines(cli, raw), raw);
  else {
    const q = await queueLines(cli, queues, raw, flags.registries ?? false, s);
    const w = withCron(await workerLines(cli, queues, raw, byQueue, s), await cronLines(cli, raw), raw);
    lines = raw ? [...q, ...w] : [...q, '', ...w, '', `Updated: ${pythonNow()}`];
  }
  return { text: lines.map((l) => `${l}\n`).join(''), warnings };
}

/** The workers' lines, then the cron schedulers' (after a blank line unless raw), if any run. */
function withCron(workers: string[], cron: string[], raw: boolean): string[] {
  if (cron.length === 0) return workers;
  return raw ? [...workers, ...cron] : [...workers, '', ...cron];
}

function writeWarnings(warnings: string[]): void {
  const s = style(process.stderr.isTTY === true);
  for (const w of warnings) process.stderr.write(`${s.yellow(w)}\n`);
}

export async function runInfo(names: string[], flags: InfoFlags): Promise<number> {
  const cli = await openCli(flags, { live: Boolean(flags.interval) });
  const tty = process.stdout.isTTY === true;
  const s = style(tty);
  // `rq info -i 1 | head`: the reader going away ends the command, quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  try {
    if (!flags.interval) {
      const { text, warnings } = await frame(cli, names, flags, s);
      process.stdout.write(text);
      writeWarnings(warnings);
      return 0;
    }
    const stop = new AbortController();
    const onSigint = (): void => {
      stop.abort();
      // A refresh waiting on an unreachable Redis would never return: leave anyway, as Ctrl-C promises.
      setTimeout(() => {
        process.stdout.write('\n');
        process.exit(0);
      }, 2000).unref();
    };
    process.on('SIGINT', onSigint);
    try {
      while (!stop.signal.aborted) {
        const { text, warnings } = await frame(cli, names, flags, s);
        if (stop.signal.aborted) break;
        // On a terminal each refresh replaces the last one (click.clear); piped output just repeats.
        process.stdout.write(tty ? `\x1b[2J\x1b[1;1H${text}` : text);
        writeWarnings(warnings);
        await sleep(flags.interval * 1000, stop.signal);
      }
    } finally {
      process.off('SIGINT', onSigint);
    }
    process.stdout.write('\n');
    return 0;
  } finally {
    cli.close();
  }
}
