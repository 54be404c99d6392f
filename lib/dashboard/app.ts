/**
 * `rq dashboard` as a hono app: a JSON API over lib/monitor.ts and the actions of Queue, Job, the
 * registries and commands.ts, the static front end in ./static, and `/metrics`. Usable on its own
 * (`serveDashboard`) or inside an existing Node HTTP server (`dashboardHandler`).
 *
 * Safety: actions (POST) need the token in the `X-RQ-Token` header, a header a cross-site form or
 * image cannot send and a cross-site script could only send after a CORS preflight this app never
 * answers; requests whose Origin (or Sec-Fetch-Site) names another site are refused too. The front
 * end writes job data with textContent only, and the Content-Security-Policy allows no inline script.
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import type { Redis } from 'ioredis';
import { Hono, type Context } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { sendStopJobCommand } from '../commands.js';
import { DeserializationError } from '../errors/DeserializationError.js';
import { InvalidJobIdError } from '../errors/InvalidJobIdError.js';
import { InvalidOperationError } from '../errors/InvalidOperationError.js';
import { MissingDependencyError } from '../errors/MissingDependencyError.js';
import { NoSuchJobError } from '../errors/NoSuchJobError.js';
import { RqError } from '../errors/RqError.js';
import { Job } from '../Job.js';
import { Queue, validateQueueName, type JobClass, type QueueOptions } from '../Queue.js';
import { renderMetrics } from '../metrics.js';
import { jobDetail, jobPage, queueViews, workerViews, type MonitorOptions } from '../monitor.js';
import { keysOf } from '../redis/connection.js';
import type { RegistryOptions } from '../registries/BaseRegistry.js';
import { parseRegistryName, REGISTRY_NAMES } from '../registries/byName.js';
import { FailedJobRegistry } from '../registries/FailedJobRegistry.js';
import type { Serializer } from '../serializers.js';
import { Worker, type QueueClass } from '../Worker.js';

export interface DashboardOptions {
  connection: Redis;
  /** Secret that actions must carry in `X-RQ-Token`. Required unless `readOnly`. */
  token?: string;
  /** Refuse every action (403); pages, the API and /metrics still work. */
  readOnly?: boolean;
  queueClass?: QueueClass;
  workerClass?: typeof Worker;
  jobClass?: JobClass;
  serializer?: Serializer;
  /** Path the dashboard is mounted at in a bigger server, e.g. `/rq` (default: the root). */
  basePath?: string;
  /**
   * Host header values (without port) answered; others get 403. Guards a loopback-bound dashboard
   * against DNS rebinding. Default: any host.
   */
  allowedHosts?: readonly string[];
}

/** Job pages hold at most this many jobs. */
export const MAX_PAGE = 500;

/**
 * tsc does not copy non-TypeScript files: the front end stays in lib/dashboard/static, which the
 * package ships ("files": ["lib"]), and is found from dist/lib/dashboard/ three levels up.
 */
const STATIC_DIR = new URL('../../../lib/dashboard/static/', import.meta.url);
const ASSETS = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
} as const;

class Forbidden extends RqError {}

function statusFor(err: unknown): 400 | 403 | 404 | 409 | 500 | 501 {
  if (err instanceof Forbidden) return 403;
  if (err instanceof MissingDependencyError) return 501;
  if (err instanceof NoSuchJobError) return 404;
  if (err instanceof InvalidOperationError) return 409;
  if (err instanceof InvalidJobIdError || err instanceof DeserializationError || err instanceof RqError) return 400;
  return 500;
}

function sameToken(given: string | undefined, expected: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function intParam(c: Context, name: string, fallback: number, max: number): number {
  const raw = c.req.query(name);
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > max) throw new RqError(`Invalid ${name} "${raw}": expected a whole number from 0 to ${max}`);
  return n;
}

/** The dashboard's hono app. Throws when neither a token nor read-only mode is given. */
export function createDashboard(options: DashboardOptions): Hono {
  const readOnly = options.readOnly ?? false;
  const token = options.token;
  if (!readOnly && !token) throw new RqError('The dashboard needs { token } for its actions, or { readOnly: true }');
  const connection = options.connection;
  const keys = keysOf(connection);
  const queueClass = options.queueClass ?? Queue;
  const workerClass = options.workerClass ?? Worker;
  const jobClass = options.jobClass ?? Job;
  const queueOptions: QueueOptions = { connection, jobClass, ...(options.serializer ? { serializer: options.serializer } : {}) };
  const registryOptions: RegistryOptions = { connection, jobClass, ...(options.serializer ? { serializer: options.serializer } : {}) };
  const monitor: MonitorOptions = { connection, jobClass, registryOptions };
  const jobOptions = { connection, ...(options.serializer ? { serializer: options.serializer } : {}) };
  const assets = Object.fromEntries(Object.entries(ASSETS).map(([path, a]) => [path, { body: readFileSync(new URL(a.file, STATIC_DIR)), type: a.type }]));

  /** A queue named in the URL: known to rq:queues, or at least holding a registry. */
  const knownQueue = async (raw: string): Promise<Queue> => {
    const name = validateQueueName(raw);
    const queue = new queueClass(name, queueOptions);
    const listed = await connection.sismember(keys.queues, queue.key);
    const registryKeys = [keys.started(name), keys.finished(name), keys.failed(name), keys.deferred(name), keys.scheduled(name), keys.canceled(name)];
    if (listed === 0 && (await connection.exists(...registryKeys)) === 0) {
      throw new NoSuchJobError(`No such queue: "${name}" (it is not in ${keys.queues} and has no registries; it may have been deleted)`);
    }
    return queue;
  };

  // strict: false, so that a mounted dashboard answers at `/rq/` as well as `/rq`.
  const app = new Hono({ strict: false }).basePath(options.basePath ?? '/');
  app.use(
    secureHeaders({
      contentSecurityPolicy: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        baseUri: ["'none'"],
        formAction: ["'none'"],
        frameAncestors: ["'none'"],
      },
      crossOriginResourcePolicy: 'same-origin',
      // Served over plain HTTP on loopback, where HSTS means nothing.
      strictTransportSecurity: false,
    }),
  );
  app.use(async (c, next) => {
    if (options.allowedHosts) {
      const host = new URL(c.req.url).hostname.replace(/^\[|\]$/g, '');
      if (!options.allowedHosts.includes(host)) throw new Forbidden(`Host "${host}" is not one this dashboard answers to`);
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const origin = c.req.header('origin');
      const site = c.req.header('sec-fetch-site');
      if ((origin !== undefined && origin !== new URL(c.req.url).origin) || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
        throw new Forbidden('Cross-site request refused');
      }
      if (readOnly) throw new Forbidden('This dashboard is read-only (--read-only): actions are off');
      if (!sameToken(c.req.header('x-rq-token'), token!)) throw new Forbidden('Missing or wrong token: send the token printed by `rq dashboard` in the X-RQ-Token header');
    }
    await next();
  });
  app.onError((err, c) => c.json({ error: err instanceof Error ? err.message : String(err) }, statusFor(err)));
  app.notFound((c) => c.json({ error: `Not found: ${c.req.path}` }, 404));

  for (const [path, asset] of Object.entries(assets)) {
    app.get(path, (c) => c.body(new Uint8Array(asset.body), 200, { 'content-type': asset.type, 'cache-control': 'no-cache' }));
  }

  app.get('/api/overview', async (c) => {
    const queues = await queueClass.all(queueOptions);
    const [queueList, workers, suspended] = await Promise.all([queueViews(queues, registryOptions), workerViews(workerClass, monitor), connection.exists(keys.suspended)]);
    return c.json({ queues: queueList, workers, suspended: suspended === 1, readOnly, registries: REGISTRY_NAMES });
  });
  app.get('/api/queues/:queue/jobs', async (c) => {
    const queue = await knownQueue(c.req.param('queue'));
    const registry = parseRegistryName(c.req.query('registry') ?? 'queued');
    return c.json(await jobPage(queue, registry, intParam(c, 'offset', 0, Number.MAX_SAFE_INTEGER), intParam(c, 'limit', 20, MAX_PAGE) || 20, monitor));
  });
  app.get('/api/jobs/:id', async (c) => c.json(await jobDetail(c.req.param('id'), monitor)));
  app.get('/metrics', async (c) => {
    const { contentType, body } = await renderMetrics({ ...monitor, workerClass, queues: () => queueClass.all(queueOptions) });
    return c.body(body, 200, { 'content-type': contentType });
  });

  const fetchJob = (id: string): Promise<Job> => jobClass.fetch(id, jobOptions);
  app.post('/api/jobs/:id/requeue', async (c) => {
    const job = await fetchJob(c.req.param('id'));
    if (!job.origin) throw new InvalidOperationError(`Job ${job.id} has no origin queue to go back to`);
    await new FailedJobRegistry(job.origin, registryOptions).requeue(job.id);
    return c.json({ ok: true, message: `Job ${job.id} requeued on ${job.origin}` });
  });
  app.post('/api/jobs/:id/delete', async (c) => {
    const job = await fetchJob(c.req.param('id'));
    await job.delete();
    return c.json({ ok: true, message: `Job ${job.id} deleted` });
  });
  app.post('/api/jobs/:id/cancel', async (c) => {
    const job = await fetchJob(c.req.param('id'));
    await job.cancel();
    return c.json({ ok: true, message: `Job ${job.id} canceled` });
  });
  app.post('/api/jobs/:id/stop', async (c) => {
    const id = c.req.param('id');
    await sendStopJobCommand(connection, id);
    return c.json({ ok: true, message: `Asked the worker of job ${id} to stop it` });
  });
  app.post('/api/queues/:queue/requeue-failed', async (c) => {
    const queue = await knownQueue(c.req.param('queue'));
    const registry = new FailedJobRegistry(queue.name, registryOptions);
    let requeued = 0;
    for (const id of await registry.getJobIds()) {
      try {
        await registry.requeue(id);
        requeued++;
      } catch (err) {
        // Another client requeued or deleted it meanwhile.
        if (!(err instanceof InvalidOperationError || err instanceof NoSuchJobError)) throw err;
      }
    }
    return c.json({ ok: true, message: `${requeued} failed jobs requeued on ${queue.name}` });
  });
  app.post('/api/queues/:queue/empty', async (c) => {
    const queue = await knownQueue(c.req.param('queue'));
    const removed = await queue.empty();
    return c.json({ ok: true, message: `${removed} jobs removed from ${queue.name}` });
  });
  app.post('/api/suspend', async (c) => {
    await connection.set(keys.suspended, '1');
    return c.json({ ok: true, message: 'Workers suspended: no new jobs start until resumed' });
  });
  app.post('/api/resume', async (c) => {
    await connection.del(keys.suspended);
    return c.json({ ok: true, message: 'Workers resumed' });
  });
  return app;
}

/** The dashboard as a Node `http` request listener, to mount in an existing server. */
export function dashboardHandler(options: DashboardOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return getRequestListener(createDashboard(options).fetch);
}
