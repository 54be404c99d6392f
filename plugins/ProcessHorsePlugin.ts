import type { Worker } from '../lib/Worker.js';
import { ProcessHorse } from '../lib/horse/ProcessHorse.js';
import type { HorseSpec } from '../lib/horse/protocol.js';

const PLUGIN_NAME = 'ProcessHorsePlugin';

/** What the horse needs to rebuild this worker in its own process. */
export function horseSpec(worker: Worker): HorseSpec {
  const o = worker.connection.options;
  const redis: HorseSpec['redis'] = {};
  if (o.path) redis.path = o.path;
  else {
    if (o.host) redis.host = o.host;
    if (o.port) redis.port = o.port;
  }
  if (o.db) redis.db = o.db;
  if (o.username) redis.username = o.username;
  if (o.password) redis.password = o.password;
  if (o.tls) redis.tls = o.tls;
  if (o.sentinels && o.sentinels.length > 0) {
    redis.sentinels = o.sentinels.map((s) => ({ host: s.host ?? 'localhost', port: s.port ?? 26379 }));
    if (o.name) redis.name = o.name;
  }
  const h = worker.horseOptions;
  const spec: HorseSpec = {
    workerName: worker.name,
    queues: worker.queueNames,
    paths: worker.paths,
    cwd: process.cwd(),
    plugins: h.plugins ?? [],
    preload: h.preload ?? [],
    redis,
    prefix: worker.keys.prefix,
    callbackTimeout: worker.callbackTimeout,
    reportRss: h.maxMemoryMb !== undefined,
  };
  if (h.workerClass) spec.workerClass = h.workerClass;
  if (h.jobClass) spec.jobClass = h.jobClass;
  if (h.queueClass) spec.queueClass = h.queueClass;
  if (h.connectionClass) spec.connectionClass = h.connectionClass;
  if (h.serializer) spec.serializer = h.serializer;
  if (worker.allowedModules) spec.allowedModules = worker.allowedModules;
  if (worker.horseLoop && worker.logger.settings) {
    spec.loop = {
      resultTtl: worker.resultTtl,
      workerTtl: worker.workerTtl,
      jobMonitoringInterval: worker.jobMonitoringInterval,
      disableDefaultExceptionHandler: worker.disableDefaultExceptionHandler,
      disableJobDescLogging: worker.disableJobDescLogging,
      logger: worker.logger.settings,
      exceptionHandlers: h.exceptionHandlers ?? [],
      ...(h.maxMemoryMb !== undefined ? { maxMemoryMb: h.maxMemoryMb } : {}),
      ...(worker.sentry ? { sentry: worker.sentry } : {}),
    };
  }
  return spec;
}

/** Starts a warm horse for `worker`, with its node flags. */
export function startHorse(worker: Worker): Promise<ProcessHorse> {
  return ProcessHorse.start(horseSpec(worker), worker.horseOptions.execArgv ? { execArgv: worker.horseOptions.execArgv } : {});
}

/**
 * The fork stage of `Worker`: one warm horse process, started with the worker (so a broken
 * config fails at start) and replaced after it dies, times out, or reaches `horse.maxJobs` jobs or
 * `horse.maxMemoryMb` of resident memory; the replacement starts right away, before the next job.
 */
export class ProcessHorsePlugin {
  apply(worker: Worker): void {
    let horse: ProcessHorse | null = null;
    let starting: Promise<ProcessHorse> | null = null;

    const start = (): Promise<ProcessHorse> => {
      starting ??= startHorse(worker)
        .then((h) => (horse = h))
        .finally(() => (starting = null));
      return starting;
    };
    const warm = (): void => {
      start().catch((err: unknown) => worker.logger.error(`Could not start a new work horse: ${err instanceof Error ? err.message : String(err)}`));
    };

    worker.hooks.startup.tapPromise(PLUGIN_NAME, async () => {
      await start();
    });

    worker.hooks.fork.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async () => {
      if (horse?.alive) return horse;
      return start();
    });

    worker.hooks.cleanup.tapPromise({ name: PLUGIN_NAME, stage: 100 }, async (_job, _outcome, w) => {
      if (!horse) return;
      if (!horse.alive) {
        horse = null;
        if (!w.stopRequested) warm();
        return;
      }
      const { maxJobs, maxMemoryMb } = w.horseOptions;
      const tooMany = maxJobs !== undefined && horse.jobsDone >= maxJobs;
      const tooBig = maxMemoryMb !== undefined && horse.rss !== null && horse.rss > maxMemoryMb * 1024 * 1024;
      if (tooMany || tooBig) {
        w.logger.info(`Replacing the work horse (pid ${horse.pid}) after ${horse.jobsDone} jobs${horse.rss === null ? '' : `, ${Math.round(horse.rss / 1048576)} MiB`}`);
        const old = horse;
        horse = null;
        await old.retire();
        if (!w.stopRequested) warm();
      }
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      const pending = starting;
      if (pending) await pending.catch(() => null);
      await horse?.retire();
      horse = null;
    });
  }
}
