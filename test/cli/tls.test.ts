/**
 * TLS settings of `rq worker` (REDIS_SSL, REDIS_SSL_CA_CERTS, REDIS_SSL_CERTFILE, REDIS_SSL_KEYFILE,
 * rediss://) against a real redis-server with a TLS port that requires client certificates, and
 * --sentry-ca-certs against a local HTTPS ingest endpoint, all signed by a throwaway CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { JOBS_TS, Projects, describeRun, freePort, linesOf, runRq } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { returnValue } from '../helpers/worker.js';

let server: RedisServer;
let tlsPort = 0;
let certs = '';
const projects = new Projects();
const clients: Redis[] = [];
let lastDb = 0;

const cert = (name: string): string => join(certs, name);

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: certs, stdio: 'pipe', timeout: 20_000 });
}

/** A CA, and a server certificate (for 127.0.0.1) and a client certificate signed by it. */
function makeCertificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=rq-ts test CA']);
  writeFileSync(cert('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const who of ['server', 'client']) {
    openssl(['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? '127.0.0.1' : 'rq-ts client'}`]);
    const ext = who === 'server' ? ['-extfile', 'server.ext'] : [];
    openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', ...ext]);
  }
}

before(async () => {
  certs = projects.make();
  makeCertificates();
  tlsPort = await freePort();
  server = await startRedis([
    '--databases', '64',
    '--tls-port', String(tlsPort),
    '--tls-cert-file', cert('server.crt'),
    '--tls-key-file', cert('server.key'),
    '--tls-ca-cert-file', cert('ca.crt'),
    '--tls-auth-clients', 'yes',
  ]);
});
after(async () => {
  for (const c of clients) c.disconnect();
  projects.cleanup();
  await server.stop();
});

/** A database of its own; the test's own client uses the plain port. */
function freshDb(): { db: number; redis: Redis; queue: () => Queue } {
  const db = ++lastDb;
  const redis = connect(`${server.url}/${db}`);
  clients.push(redis);
  return { db, redis, queue: () => new Queue('default', { connection: redis }) };
}

const settings = (values: Record<string, unknown>): string => Object.entries(values).map(([k, v]) => `export const ${k} = ${JSON.stringify(v)};\n`).join('');

describe('rq worker: Redis over TLS', { concurrency: 4 }, () => {
  it('REDIS_SSL + REDIS_SSL_CA_CERTS + REDIS_SSL_CERTFILE + REDIS_SSL_KEYFILE: the worker and its horse connect over TLS', async () => {
    const { db, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': settings({
        REDIS_HOST: '127.0.0.1', REDIS_PORT: tlsPort, REDIS_DB: db, REDIS_SSL: true,
        REDIS_SSL_CA_CERTS: cert('ca.crt'), REDIS_SSL_CERTFILE: cert('client.crt'), REDIS_SSL_KEYFILE: cert('client.key'),
        NAME: 'over-tls',
      }),
    });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5, 'the horse ran the job over TLS too');
    assert.equal(await redis.exists('rq:worker:over-tls'), 1);
  });

  it("a rediss:// URL with REDIS_SSL = 'yes' (rq's string form) and the certificate files", async () => {
    const { db, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const dir = projects.make({
      'jobs.ts': JOBS_TS,
      'settings.ts': settings({
        REDIS_URL: `rediss://127.0.0.1:${tlsPort}/${db}`, REDIS_SSL: 'yes',
        REDIS_SSL_CA_CERTS: cert('ca.crt'), REDIS_SSL_CERTFILE: cert('client.crt'), REDIS_SSL_KEYFILE: cert('client.key'),
      }),
    });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('TLS environment variables (RQ_REDIS_SSL, RQ_REDIS_SSL_CA_CERTS, ...)', async () => {
    const { db, redis, queue } = freshDb();
    const job = await queue().enqueue('jobs.add', 2, 3);
    const env = {
      RQ_REDIS_HOST: '127.0.0.1', RQ_REDIS_PORT: String(tlsPort), RQ_REDIS_DB: String(db), RQ_REDIS_SSL: 'true',
      RQ_REDIS_SSL_CA_CERTS: cert('ca.crt'), RQ_REDIS_SSL_CERTFILE: cert('client.crt'), RQ_REDIS_SSL_KEYFILE: cert('client.key'),
    };
    const r = await runRq(['worker', '-b'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }), env });
    assert.equal(r.code, 0, describeRun(r));
    assert.equal(await returnValue(redis, job.id), 5);
  });

  it('without the CA (self-signed server) or without the client certificate: exit 1, one line', async () => {
    const { db } = freshDb();
    const base = { REDIS_HOST: '127.0.0.1', REDIS_PORT: tlsPort, REDIS_DB: db, REDIS_SSL: true };
    const noCa = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'settings.ts': settings({ ...base, REDIS_SSL_CERTFILE: cert('client.crt'), REDIS_SSL_KEYFILE: cert('client.key') }) }),
      timeoutMs: 15_000,
    });
    assert.equal(noCa.code, 1, describeRun(noCa));
    assert.equal(linesOf(noCa.stderr).length, 1, describeRun(noCa));
    assert.match(noCa.stderr, /certificate|self.signed/i);
    const noClientCert = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'settings.ts': settings({ ...base, REDIS_SSL_CA_CERTS: cert('ca.crt') }) }),
      timeoutMs: 15_000,
    });
    assert.equal(noClientCert.code, 1, describeRun(noClientCert));
    assert.equal(linesOf(noClientCert.stderr).length, 1, describeRun(noClientCert));
  });

  it('REDIS_SSL_CA_CERTS naming a missing file: exit 2 naming the key and the file', async () => {
    const r = await runRq(['worker', '-b', '-c', 'settings'], {
      cwd: projects.make({ 'settings.ts': settings({ REDIS_HOST: '127.0.0.1', REDIS_PORT: tlsPort, REDIS_SSL: true, REDIS_SSL_CA_CERTS: '/nonexistent/ca.pem' }) }),
    });
    assert.equal(r.code, 2, describeRun(r));
    assert.equal(linesOf(r.stderr).length, 1, describeRun(r));
    assert.match(r.stderr, /REDIS_SSL_CA_CERTS.*\/nonexistent\/ca\.pem/);
  });
});

describe('rq worker: --sentry-ca-certs (HTTPS ingest signed by the test CA)', () => {
  let ingest: Server;
  let port = 0;
  const bodies: string[] = [];

  before(async () => {
    ingest = createServer({ cert: readFileSync(cert('server.crt')), key: readFileSync(cert('server.key')) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        bodies.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8'));
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((ok) => ingest.listen(0, '127.0.0.1', ok));
    port = (ingest.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((ok) => ingest.close(ok));
  });

  it('the event reaches an HTTPS DSN whose CA is given with --sentry-ca-certs (and not without it)', async () => {
    const { db, queue } = freshDb();
    const url = `${server.url}/${db}`;
    const dir = projects.make({ 'jobs.ts': JOBS_TS });
    const dsn = `https://pk@127.0.0.1:${port}/3`;
    const trusted = await queue().enqueue('jobs.boom', 'trusted');
    const a = await runRq(['worker', '-b', '-u', url, '--sentry-dsn', dsn, '--sentry-ca-certs', cert('ca.crt')], { cwd: dir });
    assert.equal(a.code, 0, describeRun(a));
    // The worker flushes Sentry before it exits: what did not arrive by then never will.
    assert.ok(bodies.some((b) => b.includes(trusted.id)), `the event of ${trusted.id} was not received; ${describeRun(a)}`);
    const untrusted = await queue().enqueue('jobs.boom', 'untrusted');
    const b = await runRq(['worker', '-b', '-u', url, '--sentry-dsn', dsn], { cwd: dir });
    assert.equal(b.code, 0, describeRun(b));
    assert.ok(!bodies.some((x) => x.includes(untrusted.id)), 'without the CA the SDK must refuse the certificate');
  });
});
