import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Job, Queue, SimpleWorker, Worker } from '../../lib/index.js';
import { useRedis } from '../helpers/redis.js';
import { collectingLogger, repoRoot, task } from '../helpers/worker.js';

let redis: Redis;

useRedis((_server, r) => {
  redis = r;
});

describe('job function allowlist', () => {
  it('by default a job cannot name a function of an installed package, only modules under the paths', async () => {
    const q = new Queue('allow', { connection: redis });
    // `tapable` is installed (a dependency); a stranger who can write to Redis must not reach it.
    const pkg = await q.enqueue('tapable.SyncHook');
    const ok = await q.enqueue(task('add'), 1, 2);
    await new SimpleWorker(['allow'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger: collectingLogger() }).work({ burst: true });
    const rejected = await Job.fetch(pkg.id, { connection: redis });
    assert.equal(rejected.status, 'failed');
    assert.match(rejected.excInfo ?? '', /Cannot resolve "tapable\.SyncHook" \(job function\): no module found/);
    assert.doesNotMatch(rejected.excInfo ?? '', /installed packages/);
    assert.equal(await ok.getStatus(), 'finished');
  });

  it('allowedModules (JOB_MODULES) admits only the listed module prefixes, in the horse too', async () => {
    const q = new Queue('allow2', { connection: redis });
    const allowed = await q.enqueue(task('add'), 1, 2);
    const other = await q.enqueue('examples.tasks.add', 1, 2);
    await new Worker(['allow2'], {
      connection: redis,
      installSignalHandlers: false,
      paths: [repoRoot],
      logger: collectingLogger(),
      allowedModules: ['test.fixtures'],
    }).work({ burst: true });
    assert.equal(await allowed.getStatus(), 'finished');
    const rejected = await Job.fetch(other.id, { connection: redis });
    assert.equal(rejected.status, 'failed');
    assert.match(rejected.excInfo ?? '', /Function "examples\.tasks\.add" is not allowed: its module is not in JOB_MODULES \(allowed: test\.fixtures\)/);
  });
});
