/**
 * The dashboard's HTTP side without a browser, against a real redis-server: `/metrics` (of
 * `rq dashboard` and `rq metrics`) read by a real Prometheus text parser matches Redis, actions
 * are refused without the token, with a cross-site Origin or a foreign Host, and in read-only
 * mode (nothing changes), and `dashboardHandler` mounts in an existing Node HTTP server.
 */
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { dashboardHandler } from '../../lib/dashboard/app.js';
import { waitFor } from '../helpers/redis.js';
import { JOBS_TS, describeRun, freePort, runRq, spawnRq, useCliRedis, type RqProcess, type TestDb } from '../helpers/cli.js';

const TOKEN = 'api-token';
const children: RqProcess[] = [];
const { projects, freshDb } = useCliRedis({
  beforeStop: async () => {
    await Promise.all(children.map((c) => c.stop('SIGTERM', 5000)));
  },
});

let db: TestDb;
let cwd: string;

async function start(args: string[], ready: string): Promise<string> {
  const port = await freePort();
  const p = spawnRq([...args, '-u', db.url, '-p', String(port)], { cwd, timeoutMs: 120_000 });
  children.push(p);
  await p.waitForOutput(ready);
  return `http://127.0.0.1:${port}`;
}

function family(families: PromFamily[], name: string): PromFamily {
  const f = families.find((x) => x.name === name);
  assert.ok(f, `${name} in ${families.map((x) => x.name).join(', ')}`);
  return f;
}

describe('dashboard HTTP: /metrics, refusals, mounting', () => {
  let dash: string;
  let readOnly: string;
  before(async () => {
    db = freshDb();
    cwd = projects.make({ 'jobs.ts': JOBS_TS });
    const q = db.queue();
    await q.enqueue('jobs.add', 1, 2);
    await q.enqueue('jobs.add', 3, 4);
    await q.enqueue('jobs.boom');
    const r = await runRq(['worker', '-b', '-u', db.url, '-n', 'burst-worker', 'default'], { cwd, timeoutMs: 30_000 });
    assert.equal(r.code, 0, describeRun(r));
    await q.enqueue('jobs.add', 5, 6);
    children.push(spawnRq(['worker', '-u', db.url, '-n', 'idle-worker', 'other', 'default2'], { cwd, timeoutMs: 120_000 }));
    await waitFor(async () => (await db.redis.hget('rq:worker:idle-worker', 'state')) === 'idle', 'the idle worker to register', 20_000);
    [dash, readOnly] = await Promise.all([start(['dashboard', '--token', TOKEN], 'rq dashboard on'), start(['dashboard', '--read-only'], 'rq dashboard (read-only)')]);
  });

  it("/metrics parses as Prometheus text, with rq-exporter's names and values that match Redis", async () => {
    const metricsOnly = await start(['metrics'], 'Prometheus metrics on');
    for (const url of [`${dash}/metrics`, `${metricsOnly}/metrics`]) {
      const res = await fetch(url);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const families = parsePrometheusTextFormat(text);
      const jobs = family(families, 'rq_jobs');
      assert.equal(jobs.type, 'GAUGE');
      const value = (status: string): string | undefined => jobs.metrics.find((m) => m.labels?.queue === 'default' && m.labels.status === status)?.value;
      assert.equal(value('queued'), String(await db.redis.llen('rq:queue:default')));
      assert.equal(value('finished'), '2');
      assert.equal(value('failed'), '1');
      assert.equal(value('canceled'), '0');
      const workers = family(families, 'rq_workers').metrics;
      const idle = workers.find((m) => m.labels?.name === 'idle-worker');
      assert.deepEqual(idle?.labels, { name: 'idle-worker', queues: 'other,default2', state: 'idle' });
      assert.equal(family(families, 'rq_workers_success_total').type, 'COUNTER');
      family(families, 'rq_workers_failed_total');
      family(families, 'rq_workers_working_time_total');
      assert.equal(family(families, 'rq_job_duration_seconds').type, 'HISTOGRAM');
      // The parser drops the labels, _count and _sum of a labelled histogram (it merges the samples), so
      // the two finished jobs are checked on the text itself.
      assert.match(text, /^rq_job_duration_seconds_count\{queue="default"\} 2$/m);
      assert.match(text, /^rq_job_duration_seconds_bucket\{le="\+Inf",queue="default"\} 2$/m);
    }
  });

  it('actions: 403 without the token, with a wrong one, cross-site, for a foreign Host, and read-only; Redis unchanged', async () => {
    const post = (base: string, path: string, headers: Record<string, string> = {}) => fetch(`${base}${path}`, { method: 'POST', headers });
    const refused = [
      await post(dash, '/api/suspend'),
      await post(dash, '/api/suspend', { 'x-rq-token': 'wrong' }),
      await post(dash, '/api/suspend', { 'x-rq-token': TOKEN, origin: 'https://evil.example' }),
      await post(dash, '/api/suspend', { 'x-rq-token': TOKEN, 'sec-fetch-site': 'cross-site' }),
      await post(readOnly, '/api/suspend', { 'x-rq-token': TOKEN }),
      await post(dash, '/api/queues/default/empty', { 'x-rq-token': 'wrong' }),
    ];
    assert.deepEqual(refused.map((r) => r.status), [403, 403, 403, 403, 403, 403]);
    assert.match(((await refused[4]!.json()) as { error: string }).error, /read-only/);
    assert.equal(refused[0]!.headers.get('access-control-allow-origin'), null);
    assert.equal(await db.redis.exists('rq:suspended'), 0);
    assert.equal(await db.redis.llen('rq:queue:default'), 1);
    // DNS rebinding: a name that resolves to 127.0.0.1 but is not a loopback name.
    // (fetch may not set Host, so node:http does.)
    const rebound = await new Promise<number | undefined>((resolve, reject) => {
      request(`${dash}/api/overview`, { headers: { host: 'attacker.example' } }, (res) => {
        res.resume();
        resolve(res.statusCode);
      })
        .on('error', reject)
        .end();
    });
    assert.equal(rebound, 403);
    const ok = await post(dash, '/api/suspend', { 'x-rq-token': TOKEN, origin: dash });
    assert.equal(ok.status, 200);
    assert.equal(await db.redis.exists('rq:suspended'), 1);
    assert.equal((await post(dash, '/api/resume', { 'x-rq-token': TOKEN })).status, 200);
    assert.equal(await db.redis.exists('rq:suspended'), 0);
  });

  it('the API answers bad input with a JSON error and the right status', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${dash}${path}`);
      return { status: r.status, error: ((await r.json()) as { error?: string }).error };
    };
    assert.deepEqual(await get('/api/jobs/nope'), { status: 404, error: 'No such job: nope (rq:job:nope does not exist)' });
    assert.deepEqual(await get('/api/jobs/a:b'), { status: 400, error: 'Job id "a:b" contains \':\', which rq uses as a key separator; choose an id without \':\'' });
    assert.equal((await get('/api/queues/gone/jobs')).status, 404);
    assert.match((await get('/api/queues/default/jobs?registry=nope')).error ?? '', /Unknown registry "nope"/);
    assert.match((await get('/api/queues/default/jobs?limit=-1')).error ?? '', /Invalid limit "-1"/);
    const page = (await (await fetch(`${dash}/api/queues/default/jobs?registry=finished&limit=1&offset=1`)).json()) as { total: number; jobs: unknown[] };
    assert.equal(page.total, 2);
    assert.equal(page.jobs.length, 1);
  });

  it('requeue all failed: every job of the FailedJobRegistry back on its queue, with the token only', async () => {
    const failed = await db.redis.zrange('rq:failed:default', '0', '-1');
    assert.equal(failed.length, 1, 'the burst left jobs.boom failed');
    const path = '/api/queues/default/requeue-failed';
    assert.equal((await fetch(`${dash}${path}`, { method: 'POST' })).status, 403);
    assert.equal(await db.redis.zcard('rq:failed:default'), 1, 'refused: nothing requeued');
    const r = await fetch(`${dash}${path}`, { method: 'POST', headers: { 'x-rq-token': TOKEN } });
    assert.equal(r.status, 200);
    assert.match(((await r.json()) as { message: string }).message, /^1 failed jobs requeued on default$/);
    assert.equal(await db.redis.zcard('rq:failed:default'), 0);
    assert.equal(await db.redis.hget(`rq:job:${failed[0]}`, 'status'), 'queued');
    assert.deepEqual((await db.redis.lrange('rq:queue:default', 0, -1)).slice(-1), failed);
  });

  describe('dashboardHandler in an existing http server', () => {
    let server: Server;
    let base: string;
    before(async () => {
      const handler = dashboardHandler({ connection: db.redis, readOnly: true, basePath: '/rq' });
      server = createServer((req, res) => {
        if (req.url?.startsWith('/rq/')) void handler(req, res);
        else res.writeHead(200).end('the host app');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => {
      server.closeAllConnections();
      server.close();
    });

    it('serves the page, the API and /metrics under its path, and leaves the rest to the host app', async () => {
      assert.equal(await (await fetch(`${base}/`)).text(), 'the host app');
      assert.match(await (await fetch(`${base}/rq/`)).text(), /<title>rq dashboard<\/title>/);
      const overview = (await (await fetch(`${base}/rq/api/overview`)).json()) as { queues: { name: string }[]; readOnly: boolean };
      assert.deepEqual(overview.queues.map((q) => q.name), ['default']);
      assert.equal(overview.readOnly, true);
      assert.match(await (await fetch(`${base}/rq/metrics`)).text(), /^rq_jobs\{queue="default",status="finished"\} 2$/m);
      assert.equal((await fetch(`${base}/rq/api/suspend`, { method: 'POST' })).status, 403);
    });
  });
});
