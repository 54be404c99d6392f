import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/cli.js';
import { repoRoot } from '../helpers/worker.js';

/** Runs a producer script against `url` in a child process: what it printed, and its stderr. */
function produce(url: string, options: string): { outcome: { ms: number; name: string; message: string; last?: string }; stderr: string } {
  const script = `
    import { connect, lastConnectionError, Queue } from ${JSON.stringify(`${repoRoot}dist/lib/index.js`)};
    const started = Date.now();
    const queue = new Queue('default', { connection: connect({ url: ${JSON.stringify(url)}, ...${options} }) });
    try {
      await queue.enqueue('tasks.add', 1, 2);
      console.log(JSON.stringify({ ms: Date.now() - started, name: 'none', message: 'enqueued' }));
    } catch (err) {
      console.log(JSON.stringify({ ms: Date.now() - started, name: err.name, message: err.message, last: lastConnectionError(queue.connection)?.code }));
    }
    queue.connection.disconnect();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return { outcome: JSON.parse(r.stdout) as { ms: number; name: string; message: string; last?: string }, stderr: r.stderr };
}

describe('connect() in library mode with Redis down', () => {
  it('the first command fails within seconds with one error naming the server (no password), and ioredis prints nothing', async () => {
    const port = await freePort();
    const { outcome, stderr } = produce(`redis://app:s3cret@127.0.0.1:${port}/2`, '{}');
    assert.equal(outcome.name, 'RedisConnectionError');
    assert.ok(outcome.ms < 5000, `took ${outcome.ms} ms`);
    assert.match(outcome.message, new RegExp(`^Enqueue on default failed: Cannot reach Redis at redis://127\\.0\\.0\\.1:${port}/2: connect ECONNREFUSED 127\\.0\\.0\\.1:${port} \\(gave up after 3 attempts`));
    assert.doesNotMatch(outcome.message, /s3cret/);
    assert.equal(outcome.last, 'ECONNREFUSED', 'the last error is kept');
    assert.equal(stderr, '', 'no [ioredis] Unhandled error event lines');
  });

  it('maxRetriesPerRequest and connectTimeout set how long a command waits', async () => {
    const port = await freePort();
    const { outcome, stderr } = produce(`redis://127.0.0.1:${port}`, '{ maxRetriesPerRequest: 5, connectTimeout: 500 }');
    assert.equal(outcome.name, 'RedisConnectionError');
    assert.match(outcome.message, /gave up after 6 attempts of up to 500 ms/);
    assert.equal(stderr, '');
  });
});
