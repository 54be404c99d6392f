import type { Redis } from 'ioredis';
import type { Job } from './Job.js';
import { keysOf } from './redis/connection.js';
import { runScript } from './redis/scripts.js';
import { utcformat } from './time.js';

/**
 * Enqueues the dependents of `parent` whose dependencies are all met now (rq's enqueue_dependents).
 * Reads the dependents and their dependency lists, then one script checks and enqueues them
 * atomically: a dependent is enqueued only while still `deferred`, so it is enqueued exactly once
 * even when its dependencies finish on different workers at the same moment.
 * `deleteSet`: drop the parent's dependents set afterwards (the parent itself was deleted).
 */
export async function enqueueDependents(connection: Redis, parent: Job, options: { deleteSet?: boolean } = {}): Promise<number> {
  const keys = keysOf(connection);
  const ids = await connection.smembers(parent.dependentsKey);
  if (ids.length === 0) return 0;
  const pipe = connection.pipeline();
  for (const id of ids) pipe.hmget(keys.job(id), 'origin', 'dependency_ids', 'dependency_id');
  const rows = (await pipe.exec()) ?? [];
  const perDependent: string[] = [];
  const dependents: (string | number)[] = [];
  ids.forEach((id, i) => {
    const [origin, depIdsJson, depId] = (rows[i]?.[1] as (string | null)[] | undefined) ?? [];
    let depIds: string[] = [];
    try {
      const parsed: unknown = depIdsJson ? JSON.parse(depIdsJson) : null;
      if (Array.isArray(parsed)) depIds = parsed.filter((d): d is string => typeof d === 'string');
    } catch {
      // an unreadable list: fall back to the single dependency_id
    }
    if (depIds.length === 0 && depId) depIds = [depId];
    const queue = origin ?? parent.origin ?? 'default';
    perDependent.push(keys.job(id), keys.deferred(queue), keys.queue(queue), ...depIds.map((d) => keys.job(d)));
    dependents.push(id, keys.queue(queue), depIds.length);
  });
  return runScript(
    connection,
    'rqEnqueueDependents',
    { dependents: parent.dependentsKey, queues: keys.queues, perDependent },
    { enqueuedAt: utcformat(new Date()), deleteSet: options.deleteSet ? '1' : '0', dependents },
  );
}
