import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { tempDir } from '../helpers/checkout.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = join(root, 'dist/lib/cli/main.js');

let server: RedisServer;
let redis: Redis;
let ingest: Server;
let port = 0;
const envelopes: { url: string; body: string }[] = [];

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((ok) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => ok(Buffer.concat(chunks)));
  });
}

before(async () => {
  server = await startRedis();
  redis = connect(server.url);
  // Stands in for Sentry's ingest endpoint: records each envelope the SDK posts.
  ingest = createServer(async (req, res) => {
    const raw = await readBody(req);
    const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
    envelopes.push({ url: req.url ?? '', body: body.toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((ok) => ingest.listen(0, '127.0.0.1', ok));
  port = (ingest.address() as { port: number }).port;
});

after(async () => {
  redis.disconnect();
  await server.stop();
  await new Promise((ok) => ingest.close(ok));
});

describe('SentryPlugin (--sentry-dsn)', () => {
  it('sends the job exception to the DSN with job id, function, queue and worker tags', async () => {
    const dir = tempDir('sentry');
    try {
      writeFileSync(join(dir, 'jobs.ts'), "export function explode(what: string): never { throw new RangeError(`bad ${what}`); }\n");
      const job = await new Queue('default', { connection: redis }).enqueue('jobs.explode', 'input');
      const child = spawn(process.execPath, [bin, 'worker', '-b', '-u', server.url, '-n', 'sentry-w', '--sentry-dsn', `http://publickey@127.0.0.1:${port}/1`, 'default'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const code = await new Promise<number | null>((ok) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          ok(c);
        });
      });
      assert.equal(code, 0, output);
      const envelope = await waitFor(() => envelopes.find((e) => e.body.includes('RangeError')), 'the Sentry envelope', 5000);
      assert.match(envelope.url, /^\/api\/1\/envelope\//);
      assert.match(envelope.body, /"value":"bad input"/);
      assert.ok(envelope.body.includes(`"rq.job_id":"${job.id}"`), envelope.body);
      assert.ok(envelope.body.includes('"rq.func":"jobs.explode"'));
      assert.ok(envelope.body.includes('"rq.queue":"default"'));
      assert.ok(envelope.body.includes('"rq.worker":"sentry-w"'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
