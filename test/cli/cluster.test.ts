/**
 * rq-ts on a real local Redis Cluster (three masters, test/helpers/cluster.ts): the CLI's
 * --cluster / REDIS_CLUSTER, the {rq}: prefix that keeps every key in one slot, the default worker
 * (whose horse connects to the cluster itself) and SimpleWorker, and the refusal of a script whose
 * keys would cross slots.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { connect, CrossSlotError, describeConnection, Job, keySlot, keysOf, Queue, sendStopJobCommand } from '../../lib/index.js';
import { startCluster, type ClusterSetup } from '../helpers/cluster.js';
import { distIndex, describeRun, Projects, runRq, spawnRq } from '../helpers/cli.js';
import { waitFor } from '../helpers/redis.js';

const JOBS = `
import { getCurrentJob } from ${JSON.stringify(distIndex)};
/** Writes its meta through the connection of the process that runs it (a horse's own Cluster client). */
export function spin(): never { for (;;) {} }
export async function nap(seconds: number): Promise<string> {
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return 'woke';
}
export async function add(a: number, b: number): Promise<number> {
  const job = getCurrentJob()!;
  job.meta.pid = process.pid;
  await job.saveMeta();
  return a + b;
}
`;

let cluster: ClusterSetup;
const projects = new Projects();

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  projects.cleanup();
  await cluster?.stop();
});
afterEach(async () => {
  await Promise.all(cluster.ports.map((p) => cluster.node(p).flushall()));
});

/** Keys on each node, by port. */
async function keysByNode(): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const p of cluster.ports) out.set(p, await cluster.node(p).keys('*'));
  return out;
}

describe('Redis Cluster', () => {
  it('--cluster: rq enqueue, the default worker (its horse on its own Cluster client) and rq info, every key in the {rq} slot', async () => {
    const cwd = projects.make({ 'jobs.ts': JOBS });
    const seeds = cluster.seeds;
    // The seed given first does not own {rq}'s slot: the client must find the owner itself.
    const owner = await cluster.ownerOf(keySlot('{rq}'));
    const order = [...cluster.ports.filter((p) => p !== owner), owner].map((p) => `127.0.0.1:${p}`).join(',');
    const enq = await runRq(['enqueue', '--cluster', order, 'jobs.add', ':20', ':22'], { cwd });
    assert.equal(enq.code, 0, describeRun(enq));
    const id = /job-id '([^']+)'/.exec(enq.stdout)?.[1];
    assert.ok(id, enq.stdout);
    const worker = await runRq(['worker', '--cluster', seeds, '--burst'], { cwd, timeoutMs: 30_000 });
    assert.equal(worker.code, 0, describeRun(worker));
    assert.match(worker.output, /Redis: cluster:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+ \(from the --cluster flag\)/);
    assert.match(worker.output, /Worker \{rq\}:worker:/);
    const redis = connect({ cluster: cluster.ports.map((port) => ({ host: '127.0.0.1', port })) });
    try {
      const job = await Job.fetch(id, { connection: redis });
      assert.equal(job.status, 'finished');
      assert.equal(await job.returnValue(), 42);
      // The job ran in a horse, not in the worker, and wrote through the horse's connection.
      assert.equal(typeof job.meta.pid, 'number');
      assert.notEqual(job.meta.pid, worker.pid);
    } finally {
      redis.disconnect();
    }
    const info = await runRq(['info', '--cluster', seeds], { cwd });
    assert.equal(info.code, 0, describeRun(info));
    assert.match(info.stdout, /^default\s+\|\s+0$/m);
    assert.match(info.stdout, /1 queues, 0 jobs total/);
    // All of it on the master that owns {rq}'s slot (and our slot function agrees with the server's).
    const byNode = await keysByNode();
    const mine = byNode.get(owner)!;
    assert.ok(mine.includes('{rq}:queues') && mine.includes(`{rq}:job:${id}`), mine.join(' '));
    assert.ok(mine.every((k) => k.startsWith('{rq}:')), mine.join(' '));
    for (const [port, keys] of byNode) if (port !== owner) assert.deepEqual(keys, [], `node ${port}`);
    assert.equal(Number(await cluster.node(owner).call('CLUSTER', 'KEYSLOT', `{rq}:job:${id}`)), keySlot(`{rq}:job:${id}`));
  });

  it('REDIS_CLUSTER and a hash-tagged REDIS_PREFIX in a settings file: a SimpleWorker waits (blocking on the queue through the cluster) and takes a job enqueued after it started', async () => {
    // A deployment of its own, in another slot than {rq}'s (3 masters: likely on another master).
    const prefix = '{rq-high}:';
    const cwd = projects.make({
      'jobs.ts': JOBS,
      'settings.ts':
        `export const REDIS_CLUSTER = ${JSON.stringify(cluster.ports.map((p) => `127.0.0.1:${p}`))};\n` +
        `export const REDIS_PREFIX = ${JSON.stringify(prefix)};\nexport const QUEUES = ['high'];\n`,
    });
    const worker = spawnRq(['worker', '-c', 'settings', '-w', 'rq.SimpleWorker'], { cwd, timeoutMs: 40_000 });
    try {
      await worker.waitForOutput('Listening for work on high');
      assert.match(worker.output, /\(from REDIS_CLUSTER in settings\)/);
      assert.match(worker.output, /Worker \{rq-high\}:worker:/);
      const redis = connect({ cluster: [{ host: '127.0.0.1', port: cluster.ports[1]! }], prefix });
      try {
        const job = await new Queue('high', { connection: redis }).enqueue('jobs.add', 1, 2);
        const done = await waitFor(async () => {
          const j = await Job.fetch(job.id, { connection: redis });
          return j.status === 'finished' ? j : null;
        }, 'the job to finish', 20_000, 50);
        assert.equal(await done.returnValue(), 3);
        // A SimpleWorker runs the job in its own process.
        assert.equal(done.meta.pid, worker.pid);
        const owner = await cluster.ownerOf(keySlot(prefix));
        assert.ok((await cluster.node(owner).keys('*')).includes(`${prefix}job:${job.id}`));
      } finally {
        redis.disconnect();
      }
    } finally {
      const exit = await worker.stop('SIGTERM');
      assert.equal(exit.code, 0, worker.output);
    }
  });

  it('a stop-job command published on the cluster reaches the worker (its pubsub connection may be on another node)', async () => {
    const cwd = projects.make({ 'jobs.ts': JOBS });
    const redis = connect({ cluster: [{ host: '127.0.0.1', port: cluster.ports[1]! }] });
    const w = spawnRq(['worker', '--cluster', cluster.seeds, '-n', 'napper'], { cwd, timeoutMs: 40_000 });
    try {
      const job = await new Queue('default', { connection: redis }).enqueue('jobs.nap', 30);
      await w.waitForOutput('Got jobs.nap(30) from default');
      await waitFor(async () => (await Job.fetch(job.id, { connection: redis })).status === 'started', 'the job to be started', 10_000, 50);
      await sendStopJobCommand(redis, job.id);
      await w.waitForOutput(`Received stop job command for ${job.id}`);
      const stopped = await waitFor(async () => {
        const j = await Job.fetch(job.id, { connection: redis });
        return j.status === 'stopped' ? j : null;
      }, 'the job to be stopped', 15_000, 50);
      assert.equal(stopped.status, 'stopped');
    } finally {
      redis.disconnect();
      const exit = await w.stop('SIGTERM');
      assert.equal(exit.code, 0, w.output);
    }
  });

  it("the loop watchdog's thread records a job that blocks the event loop through its own Cluster client", async () => {
    const cwd = projects.make({ 'jobs.ts': JOBS });
    const redis = connect({ cluster: [{ host: '127.0.0.1', port: cluster.ports[2]! }] });
    try {
      const spin = await new Queue('default', { connection: redis }).enqueueCall({ func: 'jobs.spin', timeout: 1 });
      const w = spawnRq(['worker', '-b', '--cluster', cluster.seeds, '-w', 'rq.SimpleWorker', '-n', 'blocked'], { cwd, timeoutMs: 60_000 });
      assert.equal((await w.exited).signal, 'SIGKILL', `ended by the watchdog; ${w.output}`);
      assert.match(w.stderr, /registered the death of \{rq\}:worker:blocked/);
      const job = await Job.fetch(spin.id, { connection: redis });
      assert.equal(job.status, 'failed', w.output);
      assert.match(job.excInfo ?? '', /^JobTimeoutException: Task exceeded maximum timeout value \(1 seconds\)/);
      assert.notEqual(await redis.hget('{rq}:worker:blocked', 'death'), null, 'death registered');
    } finally {
      redis.disconnect();
    }
  });

  it("refuses a script whose keys cross slots (prefix 'rq:' on a cluster) before sending it", async () => {
    const redis = connect({ cluster: [{ host: '127.0.0.1', port: cluster.ports[0]! }], prefix: 'rq:' });
    try {
      for (const p of cluster.ports) await cluster.node(p).call('CONFIG', 'RESETSTAT');
      await assert.rejects(
        () => new Queue('default', { connection: redis }).enqueue('jobs.add', 1, 2),
        (err: unknown) => {
          assert.ok(err instanceof CrossSlotError, String(err));
          assert.match(err.message, /Script rqEnqueue would touch keys in different Redis Cluster slots \("rq:queues" in slot 8713, "rq:queue:default" in slot 8852\)/);
          assert.match(err.message, /'\{rq\}:'/);
          return true;
        },
      );
      // Not sent at all (the server's own CROSSSLOT would have been an EVALSHA that some node counted).
      for (const p of cluster.ports) {
        const stats = String(await cluster.node(p).call('INFO', 'commandstats'));
        assert.doesNotMatch(stats, /cmdstat_eval/, `node ${p}`);
      }
      for (const [port, keys] of await keysByNode()) assert.deepEqual(keys, [], `node ${port}`);
    } finally {
      redis.disconnect();
    }
  });

  it("keySlot agrees with the server's CLUSTER KEYSLOT, hash-tag edge cases included", async () => {
    const node = cluster.node(cluster.ports[0]!);
    for (const key of ['rq:queues', '{rq}:queues', '{rq-high}:job:x', '{}rq', 'a{}{rq}', '{rq', 'rq}{x}', 'é{ü}', '']) {
      assert.equal(keySlot(key), Number(await node.call('CLUSTER', 'KEYSLOT', key)), JSON.stringify(key));
    }
  });

  it('an ioredis Cluster passed to connect() gets the {rq}: prefix and runs jobs; its seeds are named in every form ioredis takes', async () => {
    const own = new Cluster([`127.0.0.1:${cluster.ports[0]}`]);
    try {
      const redis = connect(own);
      assert.equal(keysOf(redis).prefix, '{rq}:');
      const job = await new Queue('mine', { connection: redis }).enqueue('jobs.add', 1, 1);
      assert.equal(await cluster.node(await cluster.ownerOf(keySlot('{rq}'))).exists(`{rq}:job:${job.id}`), 1);
    } finally {
      own.disconnect();
    }
    const seeds = new Cluster(['127.0.0.1:7001', 7002, 'redis://10.0.0.1:7003', { host: 'h', port: 7004 }], { lazyConnect: true });
    assert.equal(describeConnection(connect(seeds)), 'cluster://127.0.0.1:7001,localhost:7002,10.0.0.1:7003,h:7004');
  });

  it('a bad --cluster value is one clear error', async () => {
    const cwd = projects.make({});
    const r = await runRq(['info', '--cluster', '127.0.0.1'], { cwd });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Redis Cluster seed node "127\.0\.0\.1": expected host:port/);
    const both = await runRq(['info', '--cluster', cluster.seeds, '--url', 'redis://127.0.0.1:1'], { cwd });
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /--url and --cluster both say where Redis is; give one/);
  });
});
