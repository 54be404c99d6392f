/**
 * `rq dashboard` in Debian's headless Chromium, against a real redis-server holding an rq-ts worker
 * and a python-rq 1.13 worker (busy with a Python job) and jobs in every state: the pages show
 * what Redis holds and follow it live, job data with `<script>` stays text, actions change Redis
 * with the token and are refused (403, nothing changed) without it, and bad input (unknown id,
 * corrupt hash, huge exc_info) gets a clear message while the server stays up.
 * Screenshots for docs/dashboard.md: `RQ_SCREENSHOTS=1` writes them to docs/img/.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { Queue } from '../../lib/index.js';
import { zlibCompress } from '../../lib/zlib.js';
import { launchChromium, CHROMIUM_REASON, type Browser } from '../helpers/browser.js';
import { JOBS_TS, cleanEnv, describeRun, freePort, runRq, spawnRq, useCliRedis, type RqProcess, type TestDb } from '../helpers/cli.js';
import { PYTHON, PYTHON_REASON } from '../helpers/python.js';
import { waitFor } from '../helpers/redis.js';
import { repoRoot } from '../helpers/worker.js';

const TOKEN = 'test-token-0123456789';
const XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">';
const PYJOBS = 'import time\n\ndef slow(seconds):\n    time.sleep(seconds)\n    return seconds\n';
const skip = CHROMIUM_REASON ?? (PYTHON ? false : PYTHON_REASON);
if (skip) process.stdout.write(`# skipped: ${skip}\n`);

const children: RqProcess[] = [];
const pythons: ChildProcess[] = [];
let browser: Browser | null = null;
const { projects, freshDb } = useCliRedis({
  beforeStop: async () => {
    await browser?.close();
    for (const p of pythons) p.kill('SIGKILL');
    await Promise.all(children.map((c) => c.stop('SIGTERM', 5000)));
  },
});

let db: TestDb;
let base: string;
let page: Page;
const ids: Record<string, string> = {};

/** Text of the element matching `selector` once it exists. */
async function text(selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent({ timeout: 10_000 })) ?? '';
}

/** Waits (bounded) until `selector`'s text satisfies `ok`, e.g. after a poll or an action. */
async function waitText(selector: string, ok: (t: string) => boolean, what: string): Promise<string> {
  return waitFor(async () => {
    const t = await page.locator(selector).first().textContent({ timeout: 1000 }).catch(() => null);
    return t !== null && ok(t) ? t : null;
  }, what, 10_000, 50);
}

/** Opens a job's page and waits until it shows that job (not the page before). */
async function openJob(id: string): Promise<void> {
  await page.goto(`${base}#/jobs/${id}`);
  await waitText('#view h2', (t) => t === `Job ${id}`, `the page of job ${id}`);
}

async function screenshot(name: string): Promise<void> {
  if (process.env.RQ_SCREENSHOTS === '1') await page.screenshot({ path: join(repoRoot, 'docs/img', name) });
}

describe('rq dashboard in Chromium', { skip }, () => {
  before(async () => {
    db = freshDb();
    const q = db.queue();
    const cwd = projects.make({ 'jobs.ts': JOBS_TS, 'pyjobs.py': PYJOBS });
    ids.finished = (await q.enqueue('jobs.add', 1, 2)).id;
    ids.failed = (await q.enqueue('jobs.boom', XSS)).id;
    const burst = await runRq(['worker', '-b', '-u', db.url, 'default'], { cwd, timeoutMs: 30_000 });
    assert.equal(burst.code, 0, describeRun(burst));
    ids.queued = (await q.enqueueCall({ func: 'jobs.add', args: [XSS, 2], meta: { progress: 40 } })).id;
    ids.scheduled = (await q.enqueueAt(new Date(Date.now() + 3600_000), 'jobs.add', 7, 8)).id;
    ids.deferred = (await q.enqueueCall({ func: 'jobs.add', args: [9, 10], dependsOn: [ids.queued] })).id;
    // Bad input: a hash whose data decodes to nothing, and a 2 MB traceback.
    await db.redis.hset('rq:job:corrupt', { data: 'garbage', status: 'failed', origin: 'default' });
    await db.redis.zadd('rq:failed:default', '+inf', 'corrupt');
    const huge = `Traceback (most recent call last):\n${'  File "x.py", line 1, in f\n'.repeat(80_000)}ValueError: end`;
    ids.huge = (await q.enqueue('jobs.noop')).id;
    await db.redis.hset(`rq:job:${ids.huge}`, { status: 'failed', exc_info: zlibCompress(Buffer.from(huge)) });
    await db.redis.lrem('rq:queue:default', 0, ids.huge);
    await db.redis.zadd('rq:failed:default', '+inf', ids.huge);

    children.push(spawnRq(['worker', '-u', db.url, '-n', 'node-worker', 'other'], { cwd, timeoutMs: 120_000 }));
    const py = spawn(PYTHON!, ['-m', 'rq.cli', 'worker', '-u', db.url, '-n', 'python-worker', '-S', 'rq.serializers.JSONSerializer', 'pyq'], { cwd, env: cleanEnv(), stdio: 'ignore' });
    pythons.push(py);
    ids.python = (await new Queue('pyq', { connection: db.redis }).enqueueCall({ func: 'pyjobs.slow', args: [60], timeout: 120 })).id;
    await waitFor(async () => (await db.redis.hget(`rq:job:${ids.python}`, 'status')) === 'started', 'the Python worker to start its job', 20_000);
    await waitFor(async () => (await db.redis.hget('rq:worker:node-worker', 'state')) === 'idle', 'the rq-ts worker to be idle', 20_000);

    const port = await freePort();
    const dash = spawnRq(['dashboard', '-u', db.url, '-p', String(port), '--token', TOKEN], { cwd, timeoutMs: 120_000 });
    children.push(dash);
    await dash.waitForOutput('rq dashboard on');
    base = `http://127.0.0.1:${port}/`;
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(`${base}#token=${TOKEN}`);
  });

  it('the overview shows every registry count of each queue as Redis holds it, and both workers (Node and Python)', async () => {
    await waitText('tr[data-worker="python-worker"] .state', (t) => t === 'busy', 'the Python worker shown busy');
    const expected: Record<string, number> = {
      queued: await db.redis.llen('rq:queue:default'),
      started: await db.redis.zcard('rq:wip:default'),
      scheduled: await db.redis.zcard('rq:scheduled:default'),
      deferred: await db.redis.zcard('rq:deferred:default'),
      finished: await db.redis.zcard('rq:finished:default'),
      failed: await db.redis.zcard('rq:failed:default'),
      canceled: await db.redis.zcard('rq:canceled:default'),
    };
    assert.deepEqual(expected, { queued: 1, started: 0, scheduled: 1, deferred: 1, finished: 1, failed: 3, canceled: 0 });
    for (const [registry, n] of Object.entries(expected)) assert.equal(await text(`tr[data-queue="default"] .count-${registry}`), String(n), registry);
    assert.equal(await text('tr[data-queue="pyq"] .count-started'), '1');
    assert.equal(await text('tr[data-worker="python-worker"] .runtime'), 'Python');
    assert.equal(await text('tr[data-worker="node-worker"] .runtime'), 'Node');
    assert.equal(await text('tr[data-worker="node-worker"] .state'), 'idle');
    assert.match(await text('tr[data-worker="python-worker"]'), new RegExp(ids.python!));
    await screenshot('dashboard-overview.png');
  });

  it('job data holding <script> and onerror markup is shown as text, never run', async () => {
    await page.goto(`${base}#/queues/default/queued`);
    const call = await waitText(`tr[data-job="${ids.queued}"] .call`, (t) => t.includes('<script>'), 'the queued job listed');
    assert.ok(call.includes(XSS.replace(/"/g, '\\"').slice(0, 20)), call);
    await openJob(ids.failed!);
    const exc = await waitText('pre[data-field="exc_info"]', (t) => t.includes('TypeError'), 'the traceback');
    assert.ok(exc.includes('<script>window.__pwned = 1</script>'), exc);
    // Evaluated in the page (strings, as this file is compiled without the DOM types).
    assert.equal(await page.evaluate("document.querySelectorAll('#view script, #view img').length"), 0);
    assert.equal(await page.evaluate('window.__pwned ?? 0'), 0);
    await screenshot('dashboard-job.png');
  });

  it('a job page shows args, meta/progress, dependencies; a finished job its result and results history', async () => {
    await openJob(ids.queued!);
    assert.match(await waitText('pre[data-field="meta"]', (t) => t.includes('progress'), 'meta'), /"progress": 40/);
    assert.match(await text('dd[data-field="dependents"]'), new RegExp(ids.deferred!));
    await openJob(ids.finished!);
    assert.equal(await waitText('pre[data-field="result"]', (t) => t.length > 0, 'the result'), '3');
    assert.match(await text('#results'), /successful/);
  });

  it('bad input: unknown job id, corrupt hash, 2 MB exc_info get a clear message; the server stays up', async () => {
    await page.goto(`${base}#/jobs/no-such-job`);
    assert.match(await text('#view-error'), /No such job: no-such-job/);
    await page.goto(`${base}#/jobs/corrupt`);
    assert.match(await text('#job-error'), /Job corrupt has data that cannot be decoded/);
    await openJob(ids.huge!);
    const exc = await waitText('pre[data-field="exc_info"]', (t) => t.includes('more characters not shown'), 'the cut traceback');
    assert.ok(exc.length < 70_000, String(exc.length));
    await page.goto(`${base}#/queues/no-such-queue/failed`);
    assert.match(await text('#view-error'), /No such queue: "no-such-queue"/);
    await page.goto(`${base}#/`);
    await waitText('tr[data-queue="default"] .count-failed', (t) => t === '3', 'the overview again');
  });

  it('live: a job enqueued behind the page\'s back shows up without a reload', async () => {
    await page.goto(`${base}#/`);
    await waitText('tr[data-queue="default"] .count-queued', (t) => t === '1', 'one queued job');
    await db.queue().enqueue('jobs.add', 100, 1);
    await waitText('tr[data-queue="default"] .count-queued', (t) => t === '2', 'the new job counted by the next poll');
  });

  it('without the token every action is refused with 403 and changes nothing', async () => {
    const fresh = await browser!.context.newPage();
    try {
      await fresh.goto(base);
      await fresh.locator('#token-form').waitFor({ state: 'visible', timeout: 10_000 });
      const statuses = await fresh.evaluate(async (paths: string[]) => {
        const out: number[] = [];
        for (const p of paths) out.push((await fetch(p, { method: 'POST' })).status);
        return out;
      }, [`api/jobs/${ids.failed}/requeue`, `api/jobs/${ids.queued}/delete`, 'api/queues/default/empty', 'api/suspend']);
      assert.deepEqual(statuses, [403, 403, 403, 403]);
    } finally {
      await fresh.close();
    }
    assert.equal(await db.redis.hget(`rq:job:${ids.failed}`, 'status'), 'failed');
    assert.equal(await db.redis.exists(`rq:job:${ids.queued}`), 1);
    assert.equal(await db.redis.llen('rq:queue:default'), 2);
    assert.equal(await db.redis.exists('rq:suspended'), 0);
  });

  it('actions with the token: requeue, cancel, delete, empty, suspend/resume, and stop a running Python job', async () => {
    page.on('dialog', (d) => void d.accept());
    await openJob(ids.failed!);
    await page.locator('button[data-action="requeue"]').click();
    await waitFor(async () => (await db.redis.hget(`rq:job:${ids.failed}`, 'status')) === 'queued', 'the failed job requeued', 10_000);
    assert.equal(await db.redis.zscore('rq:failed:default', ids.failed!), null);

    await openJob(ids.scheduled!);
    await page.locator('button[data-action="cancel"]').click();
    await waitFor(async () => (await db.redis.hget(`rq:job:${ids.scheduled}`, 'status')) === 'canceled', 'the scheduled job canceled', 10_000);
    assert.notEqual(await db.redis.zscore('rq:canceled:default', ids.scheduled!), null);

    await openJob(ids.deferred!);
    await page.locator('button[data-action="delete"]').click();
    await waitFor(async () => (await db.redis.exists(`rq:job:${ids.deferred}`)) === 0, 'the deferred job deleted', 10_000);

    await page.goto(`${base}#/`);
    await page.locator('#suspend').click();
    await waitFor(async () => (await db.redis.exists('rq:suspended')) === 1, 'workers suspended', 10_000);
    await page.locator('#suspended').waitFor({ state: 'visible', timeout: 10_000 });
    await page.locator('#resume').click();
    await waitFor(async () => (await db.redis.exists('rq:suspended')) === 0, 'workers resumed', 10_000);

    await page.locator('tr[data-queue="default"] button[data-action="empty"]').click();
    await waitFor(async () => (await db.redis.llen('rq:queue:default')) === 0, 'the queue emptied', 10_000);
    await waitText('tr[data-queue="default"] .count-queued', (t) => t === '0', 'the emptied queue shown');

    await openJob(ids.python!);
    await page.locator('button[data-action="stop"]').click();
    await waitFor(async () => (await db.redis.hget(`rq:job:${ids.python}`, 'status')) === 'stopped', 'the Python job stopped by its worker', 20_000);
    await waitText('dd[data-field="status"]', (t) => t === 'stopped', 'the stopped status shown');
  });
});
