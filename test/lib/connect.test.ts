import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { freePort } from '../helpers/cli.js';
import { repoRoot } from '../helpers/worker.js';

interface Outcome {
  ms: number;
  name: string;
  message: string;
  last?: string;
}

/**
 * Runs a producer script in a child process, `tries` enqueues on `connect({ url, ...options })` (or
 * `connect({ cluster, ...options })`): what each one gave, and the child's stderr. The child must exit by
 * itself after disconnect(): a client still retrying would keep it alive past spawnSync's timeout.
 */
function produceWith(where: string, options: string, tries = 1): { outcomes: Outcome[]; stderr: string } {
  const script = `
    import { connect, lastConnectionError, Queue } from ${JSON.stringify(`${repoRoot}dist/lib/index.js`)};
    const queue = new Queue('default', { connection: connect({ ${where}, ...${options} }) });
    for (let i = 0; i < ${tries}; i++) {
      const started = Date.now();
      try {
        await queue.enqueue('tasks.add', 1, 2);
        console.log(JSON.stringify({ ms: Date.now() - started, name: 'none', message: 'enqueued' }));
      } catch (err) {
        console.log(JSON.stringify({ ms: Date.now() - started, name: err.name, message: err.message, last: lastConnectionError(queue.connection)?.code }));
      }
    }
    queue.connection.disconnect();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `${r.error ?? ''}${r.stderr}`);
  return { outcomes: r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Outcome), stderr: r.stderr };
}

function produce(url: string, options: string): { outcome: Outcome; stderr: string } {
  const { outcomes, stderr } = produceWith(`url: ${JSON.stringify(url)}`, options);
  return { outcome: outcomes[0]!, stderr };
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

describe('connect({ cluster }) in library mode with no seed node reachable', () => {
  it('each enqueue fails within seconds with one error naming the seed nodes, and ioredis prints nothing', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const { outcomes, stderr } = produceWith(`cluster: [{ host: '127.0.0.1', port: ${a} }, { host: '127.0.0.1', port: ${b} }]`, '{}', 2);
    assert.equal(outcomes.length, 2);
    for (const outcome of outcomes) {
      assert.equal(outcome.name, 'RedisConnectionError', outcome.message);
      // Generous for a busy machine: the failure took about 0.3 s when measured; without a bound it never comes.
      assert.ok(outcome.ms < 5000, `took ${outcome.ms} ms`);
      assert.match(outcome.message, new RegExp(`^Enqueue on default failed: Cannot reach Redis Cluster at cluster://127\\.0\\.0\\.1:${a},127\\.0\\.0\\.1:${b}: no seed node answered CLUSTER SLOTS .*\\(gave up after 3 attempts of up to 1000 ms; `));
    }
    assert.equal(stderr, '', 'no [ioredis] Unhandled error event lines');
  });

  it('maxRetriesPerRequest sets how many attempts a command waits', async () => {
    const port = await freePort();
    const { outcomes, stderr } = produceWith(`cluster: [{ host: '127.0.0.1', port: ${port} }]`, '{ maxRetriesPerRequest: 5 }');
    assert.equal(outcomes[0]!.name, 'RedisConnectionError');
    assert.match(outcomes[0]!.message, /gave up after 6 attempts/);
    assert.equal(stderr, '');
  });
});
