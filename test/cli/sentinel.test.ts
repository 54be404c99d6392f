import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { connect, Job, Queue } from '../../lib/index.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { tempDir } from '../helpers/checkout.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(root, 'dist/lib/cli/main.js');

function freePort(): Promise<number> {
  return new Promise((ok) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => ok(port));
    });
  });
}

let master: RedisServer;
let sentinel: ChildProcess;
let sentinelPort = 0;
let dir = '';

before(async () => {
  master = await startRedis();
  dir = tempDir('sentinel');
  sentinelPort = await freePort();
  writeFileSync(
    join(dir, 'sentinel.conf'),
    `port ${sentinelPort}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor mymaster 127.0.0.1 ${master.port} 1\n`,
  );
  sentinel = spawn('redis-server', [join(dir, 'sentinel.conf'), '--sentinel'], { stdio: 'ignore' });
  // Ready when the sentinel answers with the master's address.
  await waitFor(async () => {
    const probe = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      const addr = (await probe.call('SENTINEL', 'get-master-addr-by-name', 'mymaster')) as string[] | null;
      return addr?.[1] === String(master.port);
    } finally {
      probe.disconnect();
    }
  }, 'redis-sentinel to know the master', 15_000, 100);
});

after(async () => {
  sentinel.kill('SIGKILL');
  await master.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('SENTINEL config key', () => {
  it("connects through ioredis' Sentinel support (INSTANCES, MASTER_NAME) and runs a job", async () => {
    const redis = connect(master.url);
    try {
      // The job writes its meta through the horse's own connection, which must find the master too.
      writeFileSync(
        join(dir, 'jobs.ts'),
        `import { getCurrentJob } from ${JSON.stringify(join(root, 'lib/index.ts'))};\n` +
          'export async function add(a: number, b: number) { const job = getCurrentJob()!; job.meta.via = "horse"; await job.saveMeta(); return a + b; }\n',
      );
      writeFileSync(
        join(dir, 'settings.ts'),
        `export const SENTINEL = { INSTANCES: [['127.0.0.1', ${sentinelPort}]], MASTER_NAME: 'mymaster', DB: 0 };\nexport const QUEUES = ['sentinel'];\n`,
      );
      const job = await new Queue('sentinel', { connection: redis }).enqueue('jobs.add', 20, 22);
      const child = spawn(process.execPath, [bin, 'worker', '-b', '-c', 'settings'], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((ok) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          ok(c);
        });
      });
      assert.equal(code, 0, stderr);
      assert.match(stderr, /Listening for work on sentinel/);
      const done = await Job.fetch(job.id, { connection: redis });
      assert.equal(done.status, 'finished');
      assert.equal(await done.returnValue(), 42);
      assert.deepEqual(done.meta, { via: 'horse' });
    } finally {
      redis.disconnect();
    }
  });
});
