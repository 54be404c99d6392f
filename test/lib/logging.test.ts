import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, SimpleWorker, createLogger, type RqPlugin } from '../../lib/index.js';
import { distIndex } from '../helpers/cli.js';
import { useRedis } from '../helpers/redis.js';
import { repoRoot, task } from '../helpers/worker.js';

let redis: Redis;
useRedis((_server, r) => {
  redis = r;
});

function collecting(): { write(chunk: string): void; writes: string[] } {
  const writes: string[] = [];
  return { write: (chunk: string) => void writes.push(chunk), writes };
}

describe('logger: lines of one event-loop turn in one write', () => {
  it('keeps the lines of a turn back and writes them together at its end', async () => {
    const stream = collecting();
    const logger = createLogger({ stream, format: '%(levelname)s %(message)s' });
    logger.info('one');
    logger.warning('two');
    logger.debug('below the level: never written');
    assert.deepEqual(stream.writes, [], 'nothing written inside the turn');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(stream.writes, ['INFO one\nWARNING two\n']);
  });

  it('flush() writes at once', () => {
    const stream = collecting();
    const logger = createLogger({ stream, format: '%(message)s' });
    logger.info('now');
    logger.flush?.();
    assert.deepEqual(stream.writes, ['now\n']);
  });

  it('a worker writes the lines out before each job runs', async () => {
    const stream = collecting();
    const logger = createLogger({ stream, format: '%(message)s' });
    const q = new Queue('log-flush', { connection: redis });
    await q.enqueueCall({ func: task('add'), args: [1, 2] });
    const seenBeforeRun: string[] = [];
    // Between the flush (stage -1000) and the run (stage 100): what the log holds when the job starts.
    const probe: RqPlugin = {
      apply(w) {
        w.hooks.perform.tapPromise({ name: 'Probe', stage: 0 }, async (outcome) => {
          seenBeforeRun.push(stream.writes.join(''));
          return outcome;
        });
      },
    };
    const worker = new SimpleWorker(['log-flush'], { connection: redis, installSignalHandlers: false, paths: [repoRoot], logger, plugins: [probe] });
    await worker.work({ burst: true });
    assert.equal(seenBeforeRun.length, 1);
    assert.match(seenBeforeRun[0]!, /Got test\.fixtures\.tasks\.add\(1, 2\) from log-flush\n/);
    assert.match(stream.writes.join(''), /Registering death\.\n$/, 'every line is out when work() returns');
  });

  it('lines logged just before process.exit() are written', () => {
    const script = `import { createLogger } from ${JSON.stringify(distIndex)};
const logger = createLogger({ stream: process.stdout, format: '%(message)s' });
logger.info('last words');
process.exit(3);`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 3, r.stderr);
    assert.equal(r.stdout, 'last words\n');
  });
});
