import { clusterNodes, nodeOptions } from '../redis/connection.js';
import type { Worker } from '../Worker.js';
import { ProcessHorse } from './ProcessHorse.js';
import type { HorseSpec } from './protocol.js';

/** What the horse needs to rebuild this worker in its own process. */
export function horseSpec(worker: Worker): HorseSpec {
  const o = nodeOptions(worker.connection);
  const redis: HorseSpec['redis'] = {};
  const cluster = clusterNodes(worker.connection);
  if (cluster) redis.cluster = cluster;
  else if (o.path) redis.path = o.path;
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
  const spec: HorseSpec = {
    workerName: worker.name,
    queues: worker.queueNames,
    cwd: process.cwd(),
    settings: worker.settings,
    loop: worker.horseLoop,
    redis,
    prefix: worker.keys.prefix,
  };
  if (worker.logger.settings) spec.logger = worker.logger.settings;
  return spec;
}

/** Starts a warm horse for `worker`, with its node flags. */
export function startHorse(worker: Worker): Promise<ProcessHorse> {
  return ProcessHorse.start(horseSpec(worker), worker.horseOptions.execArgv ? { execArgv: worker.horseOptions.execArgv } : {});
}
