/**
 * Entry point of a work horse process (started by lib/horse/ProcessHorse.ts). It lives among the
 * CLI's files because, like them, it is an edge: a process entry that applies the built-in plugins.
 * It rebuilds the worker in role `horse` from the spec, applies the plugins, imports the preload
 * modules, then runs each job it is sent through the `perform` hook. With `spec.loop` it takes, runs and records jobs itself instead
 * (`horseLoop`), when told to, until its loop ends; then it exits.
 */
import type { Redis } from 'ioredis';
import { formatException } from '../execute.js';
import { Job } from '../Job.js';
import type { JobClass } from '../Queue.js';
import { createLogger } from '../logging.js';
import { connect, type ConnectionSettings } from '../redis/connection.js';
import { importModule, instantiatePlugin, resolveDotted, type ResolveOptions } from '../resolve.js';
import { defaultSerializer, type Serializer } from '../serializers.js';
import { useBuiltins, Worker, type ExceptionHandler, type RqPlugin } from '../Worker.js';
import { builtinPlugins } from '../../plugins/index.js';
import { horseConnectionName, type FromHorse, type HorseSpec, type LoopReport, type ToHorse, type WireOutcome } from '../horse/protocol.js';
import { failedOutcome } from '../horse/runJob.js';
import { DirectLog } from '../DirectLog.js';

// A horse process is an edge: it applies the built-in plugins to the worker it rebuilds.
useBuiltins(builtinPlugins);

let worker: Worker | null = null;
let jobClass: JobClass = Job;
let serializer: Serializer = defaultSerializer;
let connection: Redis | null = null;
let reportRss = false;
/** The worker asked the loop to end (warm shutdown); any other stop of the loop means: replace this horse. */
let stopAsked = false;

const send = (msg: FromHorse): void => {
  process.send?.(msg);
};

// A Ctrl-C in the terminal is for the worker (warm shutdown: let the job finish), not for the horse.
process.on('SIGINT', () => {});
// The worker is gone: nothing would record this horse's work.
process.on('disconnect', () => process.exit(0));

async function init(spec: HorseSpec): Promise<void> {
  // Set here, not when forked: `rq worker` forks its first horse before it knows its name (lib/horse/fork.ts).
  process.env.RQ_WORKER_ID = spec.workerName;
  const settings = spec.settings;
  const h = settings.horse ?? {};
  const where: ResolveOptions = { paths: settings.paths ?? [], cwd: spec.cwd };
  reportRss = h.maxMemoryMb !== undefined;
  const WorkerClass = h.workerClass ? ((await resolveDotted(h.workerClass, where, 'class', 'worker class')) as typeof Worker) : Worker;
  if (h.jobClass) jobClass = (await resolveDotted(h.jobClass, where, 'class', 'job class')) as JobClass;
  else if (h.queueClass) jobClass = ((await resolveDotted(h.queueClass, where, 'class', 'queue class')) as { jobClass: JobClass }).jobClass;
  const connectionClass = h.connectionClass
    ? ((await resolveDotted(h.connectionClass, where, 'class', 'connection class')) as ConnectionSettings['connectionClass'])
    : undefined;
  if (h.serializer) serializer = (await resolveDotted(h.serializer, where, 'any', 'serializer')) as Serializer;
  const { sentinels, name, ...plain } = spec.redis;
  connection = connect({
    ...plain,
    prefix: spec.prefix,
    ...(connectionClass ? { connectionClass } : {}),
    // A horse rides through Redis restarts as its worker does: ioredis' patient defaults, not the
    // library's fail-fast ones (its own writes retry with backoff on top of these).
    maxRetriesPerRequest: 20,
    connectTimeout: 10_000,
    redisOptions: {
      lazyConnect: true,
      connectionName: horseConnectionName(process.pid),
      ...(sentinels ? { sentinels, ...(name ? { name } : {}) } : {}),
    },
  });
  // ioredis reconnects by itself; without a listener it would also print every failed attempt.
  connection.on('error', () => {});
  const plugins: RqPlugin[] = [];
  for (const p of h.plugins ?? []) plugins.push(await instantiatePlugin(p, where));
  // Handlers run where failures are recorded: here only when this horse takes its own jobs.
  const exceptionHandlers: ExceptionHandler[] = [];
  if (spec.loop) {
    for (const handler of h.exceptionHandlers ?? []) exceptionHandlers.push((await resolveDotted(handler, where, 'function', 'exception handler')) as ExceptionHandler);
  }
  worker = new WorkerClass(spec.queues, {
    ...settings,
    // What makes this worker the horse of the one that sent the spec.
    name: spec.workerName,
    role: 'horse',
    horse: { ...h, loop: spec.loop },
    installSignalHandlers: false,
    connection,
    plugins,
    jobClass,
    serializer,
    exceptionHandlers,
    ...(spec.logger ? { logger: createLogger(spec.logger) } : {}),
  });
  worker.applyPlugins();
  const ceiling = h.maxMemoryMb;
  if (spec.loop && ceiling !== undefined) {
    worker.hooks.cleanup.tap({ name: 'HorseMemoryCeiling', stage: 200 }, (_job, _outcome, w) => {
      const rss = process.memoryUsage.rss();
      // The reason completes its worker's line "Replacing the work horse (pid N) ...".
      if (rss > ceiling * 1048576) w.requestStop(`after ${w.jobsDone + 1} jobs, ${Math.round(rss / 1048576)} MiB`, false);
    });
  }
  for (const m of h.preload ?? []) await importModule(m, where);
  await worker.hooks.startup.promise(worker);
}

async function run(id: string, hash: Record<string, string | Uint8Array>): Promise<WireOutcome> {
  const w = worker!;
  process.env.RQ_JOB_ID = id;
  const fields: Record<string, string | Buffer> = {};
  for (const [k, v] of Object.entries(hash)) fields[k] = typeof v === 'string' ? v : Buffer.from(v);
  let outcome;
  try {
    const job = jobClass.fromHash(id, fields, { connection: connection!, serializer });
    outcome = await w.hooks.perform.promise({ status: 'pending' }, job, w);
  } catch (err) {
    outcome = failedOutcome(err);
  }
  if (outcome.status === 'finished') {
    try {
      const rv = outcome.returnValue;
      return { status: 'finished', serialized: rv === undefined || rv === null ? null : serializer.dumps(rv) };
    } catch (err) {
      const failed = failedOutcome(err);
      return {
        status: 'failed',
        name: 'SerializationError',
        message: `Return value could not be serialized: ${err instanceof Error ? err.message : String(err)}`,
        excString: `Return value could not be serialized: ${failed.status === 'failed' ? failed.excString : ''}`,
      };
    }
  }
  if (outcome.status === 'failed') {
    return { status: 'failed', name: outcome.error.name, message: outcome.error.message, excString: outcome.excString };
  }
  return { status: 'failed', name: 'RqError', message: 'no plugin performed the job', excString: 'RqError: no plugin performed the job' };
}

/** One loop of a horse that takes its own jobs, then the process ends (a horse runs one loop). */
async function runLoop(burst: boolean, maxJobs: number | null, log: boolean): Promise<void> {
  const w = worker!;
  let report: LoopReport;
  try {
    w.maxJobs = maxJobs;
    if (log) {
      try {
        w.engine.lookahead.log = DirectLog.adopt();
      } catch (err) {
        w.logger.warning(`The log of the jobs this horse runs directly is not usable (${err instanceof Error ? err.message : String(err)}): it records each job on its own (no group commit)`);
      }
    }
    await w.work({ burst });
    const reason = w.stopSignal.reason as unknown;
    report = {
      jobs: w.jobsDone,
      successful: w.successfulJobCount,
      failed: w.failedJobCount,
      workingTime: w.totalWorkingTime,
      replace: w.stopRequested && !stopAsked ? (reason instanceof Error ? reason.message : String(reason)) : null,
    };
  } catch (err) {
    report = { jobs: w.jobsDone, successful: w.successfulJobCount, failed: w.failedJobCount, workingTime: w.totalWorkingTime, replace: `after its loop failed: ${formatException(err)}` };
  }
  // Exiting also ends what a job left running past its timeout; the report goes out first.
  const exit = (): void => {
    connection?.disconnect();
    process.exit(0);
  };
  if (process.send) process.send({ t: 'looped', ...report } satisfies FromHorse, undefined, {}, exit);
  else exit();
}

process.on('message', (msg: ToHorse) => {
  if (msg.t === 'init') {
    init(msg.spec).then(
      () => send({ t: 'ready', pid: process.pid }),
      (err: unknown) => send({ t: 'init-error', message: err instanceof Error ? err.message : String(err), excString: formatException(err) }),
    );
  } else if (msg.t === 'job') {
    void run(msg.id, msg.hash).then((outcome) => send({ t: 'done', id: msg.id, outcome, rss: reportRss ? process.memoryUsage.rss() : null }));
  } else if (msg.t === 'loop') {
    void runLoop(msg.burst, msg.maxJobs, msg.log);
  } else if (msg.t === 'stop') {
    stopAsked = true;
    // The worker has logged its shutdown already.
    worker?.requestStop('Warm shut down requested', false);
  } else if (msg.t === 'exit') {
    const w = worker;
    void (w ? w.hooks.shutdown.promise(w) : Promise.resolve()).finally(() => {
      connection?.disconnect();
      process.exit(0);
    });
  }
});
