/**
 * Redis AUTH with a password and with an ACL user, and the promise that credentials never show:
 * not in logs, not in the process titles (`ps` / /proc/<pid>/cmdline) of the worker and its horse,
 * not in `rq info`, not in error messages.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Job, Queue } from '../../lib/index.js';
import { describeRun, Projects, runRq, spawnRq, JOBS_TS } from '../helpers/cli.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';

const ADMIN_PW = 'Adm1n-s3cret-pw';
const ALICE_PW = 'al1ce-S3cret-pw';

let server: RedisServer;
let admin: Redis;
const projects = new Projects();

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

before(async () => {
  server = await startRedis(['--requirepass', ADMIN_PW]);
  admin = connect({ url: server.url, password: ADMIN_PW });
  await admin.call('ACL', 'SETUSER', 'alice', 'on', `>${ALICE_PW}`, '~*', '&*', '+@all');
});

after(async () => {
  admin.disconnect();
  await server.stop();
  projects.cleanup();
});

describe('authenticated Redis and secrets', () => {
  it('an ACL user in the URL works; the password is nowhere in logs, process titles or rq info', async () => {
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const url = `redis://alice:${ALICE_PW}@127.0.0.1:${server.port}/0`;
    const q = new Queue('secure', { connection: admin });
    const slow = await q.enqueue('jobs.hold', 'release-me');
    const worker = spawnRq(['worker', '-u', url, '-v', '-n', 'secure-w', 'secure'], { cwd: dir, timeoutMs: 60_000 });
    let released = false;
    try {
      await waitFor(async () => (await slow.getStatus()) === 'started', 'the job to start', 20_000);
      // The claim script marks the job started just before the horse (which takes its own jobs) retitles itself.
      const titles = (): string[] => [cmdline(worker.pid), ...childPids(worker.pid).map(cmdline)];
      await waitFor(() => titles().some((t) => /rq: Processing jobs\.hold/.test(t)), 'the horse\'s title to show the job', 20_000);
      assert.ok(titles().length >= 2, `worker and horse found: ${JSON.stringify(titles())}`);
      for (const t of titles()) assert.ok(!t.includes(ALICE_PW), `process title leaks the password: ${t}`);

      const info = await runRq(['info', '-u', url, 'secure'], { cwd: dir });
      assert.equal(info.code, 0, describeRun(info));
      assert.match(info.stdout, /secure-w/);
      assert.ok(!info.output.includes(ALICE_PW), info.output);

      await admin.rpush('release-me', 'go');
      released = true;
      await waitFor(async () => (await slow.getStatus()) === 'finished', 'the job to finish', 20_000);
    } finally {
      // After a failed assertion the job still waits: let it end, so the worker's exit does not hide the failure.
      if (!released) await admin.rpush('release-me', 'go');
      const exit = await worker.stop('SIGTERM');
      assert.equal(exit.code, 0, describeRun({ ...exit, output: worker.output }));
    }
    assert.ok(!worker.output.includes(ALICE_PW), 'the worker log has no password');
    assert.equal((await Job.fetch(slow.id, { connection: admin })).workerName, 'secure-w');
  });

  it('a password in REDIS_PASSWORD works too, and a wrong one fails at start (exit 1) without echoing it', async () => {
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': `export const REDIS_HOST = '127.0.0.1';\nexport const REDIS_PORT = ${server.port};\nexport const REDIS_PASSWORD = ${JSON.stringify(ADMIN_PW)};\n` });
    const job = await new Queue('secure2', { connection: admin }).enqueue('jobs.add', 2, 3);
    const ok = await runRq(['worker', '-b', '-c', 'settings', 'secure2'], { cwd: dir });
    assert.equal(ok.code, 0, describeRun(ok));
    assert.ok(!ok.output.includes(ADMIN_PW));
    assert.equal(await job.getStatus(), 'finished');

    const wrong = 'Wr0ng-pass-word';
    const bad = await runRq(['worker', '-b', '-u', `redis://alice:${wrong}@127.0.0.1:${server.port}/0`, 'secure2'], { cwd: dir });
    assert.equal(bad.code, 1, describeRun(bad));
    assert.match(bad.stderr, /WRONGPASS|invalid username-password/i);
    assert.ok(!bad.output.includes(wrong), `the error shows the password: ${bad.output}`);
    const badUrl = await runRq(['worker', '-b', '-u', `redis://alice:${wrong}@[bad-host`, 'secure2'], { cwd: dir });
    assert.equal(badUrl.code, 2, describeRun(badUrl));
    assert.ok(!badUrl.output.includes(wrong), `the error shows the password: ${badUrl.output}`);
  });
});

