import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, SimpleWorker } from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

describe('LoggingPlugin', () => {
  it('the retry line says the retries Redis holds after the retry', async () => {
    const job = await new Queue('q', { connection: redis }).enqueueCall({ func: task('boom'), retry: { max: 3 } });
    const logger = collectingLogger();
    await new SimpleWorker(['q'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger }).work({ burst: true });
    const said = logger.lines.filter((l) => l.includes('for a retry')).map((l) => /\((\d+) retries left\)/.exec(l)?.[1]);
    assert.deepEqual(said, ['2', '1', '0'], logger.lines.join('\n'));
    assert.equal(await redis.hget(job.key, 'retries_left'), '0');
    assert.equal(await redis.hget(job.key, 'status'), 'failed');
  });
});
