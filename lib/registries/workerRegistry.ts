import type { Redis } from 'ioredis';
import { keysOf } from '../redis/connection.js';
import { utcformat } from '../time.js';

/** Drops the keys of workers whose hash has expired from `rq:workers:<q>` and `rq:workers` (rq's clean_worker_registry). */
export async function cleanWorkerRegistry(connection: Redis, queue: string): Promise<void> {
  const keys = keysOf(connection);
  const members = await connection.smembers(keys.workersOf(queue));
  if (members.length === 0) return;
  const pipe = connection.pipeline();
  for (const k of members) pipe.exists(k);
  const exists = (await pipe.exec()) ?? [];
  const dead = members.filter((_, i) => exists[i]?.[1] === 0);
  if (dead.length === 0) return;
  await connection.multi().srem(keys.workersOf(queue), ...dead).srem(keys.workers, ...dead).exec();
}

/** rq's register_death: out of the worker sets, `death` written, the hash kept 60 s for `rq info`. */
export async function registerDeath(connection: Redis, workerKey: string, queueNames: readonly string[]): Promise<void> {
  const keys = keysOf(connection);
  const tx = connection.multi();
  tx.srem(keys.workers, workerKey);
  for (const q of queueNames) tx.srem(keys.workersOf(q), workerKey);
  tx.hset(workerKey, 'death', utcformat(new Date()));
  tx.expire(workerKey, 60);
  await tx.exec();
}
