/**
 * `npm run demo`: enqueues the jobs of examples/tasks.ts, runs them with a burst Worker (each job
 * in the warm work horse process) and prints what Redis holds afterwards, as rq's tools see it.
 * Uses REDIS_URL when set, else starts a throwaway redis-server on a free port.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, FailedJobRegistry, FinishedJobRegistry, Queue, Worker } from '../lib/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? ok(addr.port) : fail(new Error('no free port'))));
    });
  });
}

async function throwawayRedis(): Promise<{ url: string; stop(): void }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rq-ts-demo-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  proc.on('error', (err) => {
    console.error(`Cannot start redis-server (${err.message}); install it (apt-get install -y redis-server) or set REDIS_URL.`);
    process.exit(1);
  });
  await new Promise<void>((ok) => proc.stdout?.on('data', (d: Buffer) => d.toString().includes('Ready to accept') && ok()));
  return {
    url: `redis://127.0.0.1:${port}/0`,
    stop: () => {
      proc.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const server = process.env.REDIS_URL ? null : await throwawayRedis();
const url = process.env.REDIS_URL ?? server!.url;
const connection = connect(url);
try {
  const queue = new Queue('default', { connection });
  const jobs = await queue.enqueueMany([
    { func: 'examples.tasks.send_newsletter', args: ['me@nvie.com'] },
    { func: 'examples.tasks.add', args: [2, 3] },
    { func: 'examples.tasks.fetch_title', args: ['<html><title>rq-ts</title></html>'] },
    { func: 'examples.tasks.word_count', args: ['the cat and the hat'], kwargs: { unique: true } },
    { func: 'examples.tasks.fail', args: ['this one fails on purpose'] },
  ]);
  console.log(`Enqueued ${jobs.length} jobs on "default" (${url.replace(/\/\/[^@]*@/, '//***@')})\n`);

  const worker = new Worker(['default'], { connection, paths: [root], installSignalHandlers: false });
  await worker.work({ burst: true });

  console.log('\nWhat Redis holds now (as python-rq reads it):');
  for (const job of jobs) {
    await job.refresh();
    const outcome = job.status === 'finished' ? `result ${JSON.stringify(await job.returnValue())}` : `exc_info: ${job.excInfo?.split('\n')[0]}`;
    console.log(`  ${job.description}  ->  ${job.status}, ${outcome}`);
  }
  const finished = await new FinishedJobRegistry('default', { connection }).count();
  const failed = await new FailedJobRegistry('default', { connection }).count();
  console.log(`\nrq:finished:default holds ${finished} jobs, rq:failed:default holds ${failed}.`);
} finally {
  connection.disconnect();
  server?.stop();
}
