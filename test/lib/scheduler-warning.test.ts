import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue } from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';
import { collectingLogger, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

describe('the scheduler trap: work that needs a scheduler when none runs', () => {
  it('enqueueIn / enqueueAt warn once per queue through the queue logger, naming --with-scheduler', async () => {
    const logger = collectingLogger();
    const q = new Queue('later', { connection: redis, logger });
    const job = await q.enqueueIn(60, task('add'), 1, 2);
    assert.equal(logger.lines.length, 1, logger.lines.join('\n'));
    assert.match(
      logger.lines[0]!,
      new RegExp(
        `^WARNING Job ${job.id} is scheduled for \\S+ on queue 'later', but no scheduler runs for it \\(no rq:scheduler-lock:later\\): ` +
          "it waits in the ScheduledJobRegistry until a worker runs with --with-scheduler \\(rq worker --with-scheduler later\\)$",
      ),
    );
    await q.enqueueAt(new Date(Date.now() + 60_000), task('add'), 3, 4);
    await new Queue('later', { connection: redis, logger }).enqueueIn(5, task('add'), 5, 6);
    assert.equal(logger.lines.length, 1, 'one warning per queue');
  });

  it('a retry with an interval warns; a retry without one, or a queue whose scheduler holds its lock, does not', async () => {
    const logger = collectingLogger();
    await new Queue('now', { connection: redis, logger }).enqueueCall({ func: task('add'), args: [1, 1], retry: { max: 3 } });
    await redis.set('rq:scheduler-lock:locked', '1234', 'EX', 60);
    await new Queue('locked', { connection: redis, logger }).enqueueIn(10, task('add'), 1, 1);
    assert.deepEqual(logger.lines, []);
    const retried = await new Queue('retried', { connection: redis, logger }).enqueueMany([
      { func: task('add'), args: [1, 1] },
      { func: task('add'), args: [2, 2], retry: { max: 2, interval: [0, 30] } },
    ]);
    assert.equal(logger.lines.length, 1, logger.lines.join('\n'));
    assert.match(logger.lines[0]!, new RegExp(`^WARNING Job ${retried[1]!.id} retries after 0, 30 s when it fails on queue 'retried', but no scheduler runs for it`));
  });

  it('without a logger the warning goes to process.emitWarning', async () => {
    const warning = once(process, 'warning');
    await new Queue('plain', { connection: redis }).enqueueIn(60, task('add'), 1, 2);
    const [w] = (await warning) as [Error];
    assert.equal(w.name, 'RqWarning');
    assert.match(w.message, /on queue 'plain', but no scheduler runs for it .*--with-scheduler/);
  });
});
