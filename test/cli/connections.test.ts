/**
 * A worker waits on all its queues with one connection (lib/QueueWaiter.ts), not one per queue: on
 * 1,000 queues it holds a fixed handful of Redis connections, still picks up a job pushed onto its
 * last queue at once, and keeps priority order when several queues get jobs together.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JOBS_TS, spawnRq, useCliRedis, waitUntilWaiting } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';
import { status } from '../helpers/worker.js';

const { projects, freshDb } = useCliRedis();
const QUEUES = Array.from({ length: 1000 }, (_, i) => `q${i}`);

/** The connections of database `db` other than the test's own. */
async function connections(redis: { call(...args: string[]): Promise<unknown> }, db: number): Promise<string[]> {
  const list = String(await redis.call('CLIENT', 'LIST')).split('\n');
  return list.filter((l) => l.includes(` db=${db} `) && !l.includes(' cmd=client|list '));
}

describe('rq worker on 1,000 queues', { concurrency: 2 }, () => {
  for (const [label, args, most] of [
    ['SimpleWorker', ['-w', 'rq.SimpleWorker'], 3],
    ['Worker (its horse waits)', [], 4],
  ] as const) {
    it(`${label}: at most ${most} connections, a job on the last queue runs, priority order holds`, async () => {
      const { url, db, redis, queue } = freshDb();
      const dir = projects.make({ 'jobs.ts': JOBS_TS });
      const worker = spawnRq(['worker', '-u', url, ...args, ...QUEUES], { cwd: dir, timeoutMs: 60_000 });
      try {
        // Starting on 1,000 queues takes ~2 s on an idle machine; a clean clone's suite beside another
        // (both cores loaded, every test slowed alike) once took past 20 s.
        await waitUntilWaiting(redis, db, 1, 60_000);
        const held = await connections(redis, db);
        assert.ok(held.length <= most, `${held.length} connections:\n${held.join('\n')}`);

        const last = await queue('q999').enqueue('jobs.add', 1, 2);
        await waitFor(async () => (await status(redis, last.id)) === 'finished', 'the job on the last queue to finish', 10_000);

        // Both queues get a job in one transaction while the worker waits: the first queue's runs first.
        await waitUntilWaiting(redis, db);
        const low = queue('q998').createJob({ func: 'jobs.record', args: ['order', 'low'], status: 'queued' });
        const high = queue('q0').createJob({ func: 'jobs.record', args: ['order', 'high'], status: 'queued' });
        await redis.multi().hset(low.key, low.toHash()).hset(high.key, high.toHash()).rpush('rq:queue:q998', low.id).rpush('rq:queue:q0', high.id).sadd('rq:queues', 'rq:queue:q0', 'rq:queue:q998').exec();
        await waitFor(async () => (await redis.llen('order')) === 2, 'both jobs to run', 10_000);
        assert.deepEqual(await redis.lrange('order', 0, -1), ['high', 'low']);
        assert.ok((await connections(redis, db)).length <= most, 'no connection was added while working');
      } finally {
        await worker.stop('SIGTERM', 20_000);
      }
    });
  }
});
