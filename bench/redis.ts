/** A throwaway redis-server for the benchmark: free loopback port, no persistence, stopped at the end. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../lib/index.js';
import type { Redis } from 'ioredis';

export interface BenchRedis {
  url: string;
  port: number;
  version: string;
  /** A new client, closed by stop(). */
  client(): Redis;
  /** FLUSHALL: every round starts from an empty database. */
  flush(): Promise<void>;
  stop(): Promise<void>;
  /** SIGKILL at once (synchronous: for signal and exit handlers). */
  kill(): void;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no free port'))));
    });
  });
}

function waitForReady(proc: ChildProcess, output: () => string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const tick = (): void => {
      if (output().includes('Ready to accept connections')) return resolve(true);
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) return resolve(false);
      setTimeout(tick, 10);
    };
    tick();
  });
}

export async function startRedis(): Promise<BenchRedis> {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0) {
    throw new Error('redis-server is not on PATH: the benchmark starts its own (Debian: apt-get install -y redis-server)');
  }
  const version = /v=(\S+)/.exec(probe.stdout)?.[1] ?? 'unknown';
  const dir = mkdtempSync(join(tmpdir(), 'rq-ts-bench-redis-'));
  for (let attempt = 0; attempt < 4; attempt++) {
    const port = await freePort();
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const ready = await waitForReady(proc, () => output, 10_000);
    if (!ready) {
      proc.kill('SIGKILL');
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`redis-server did not start:\n${output}`);
      }
      continue;
    }
    const clients: Redis[] = [];
    const admin = connect(`redis://127.0.0.1:${port}`);
    clients.push(admin);
    return {
      url: `redis://127.0.0.1:${port}`,
      port,
      version,
      client() {
        const c = connect(`redis://127.0.0.1:${port}`);
        clients.push(c);
        return c;
      },
      async flush() {
        await admin.flushall();
      },
      kill() {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      },
      async stop() {
        for (const c of clients) c.disconnect();
        if (proc.exitCode === null && proc.signalCode === null) {
          const exited = new Promise<void>((r) => proc.once('exit', () => r()));
          proc.kill('SIGKILL');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error('unreachable');
}

/**
 * Waits until `count` idle workers wait for work: clients blocked in Redis (INFO clients:
 * blocked_clients; BLPOP for python-rq, BZPOPMIN for BullMQ, BLMOVE for an older rq-ts) plus
 * connections tracking writes to queues (CLIENT LIST flag B: rq-ts's one-connection wait,
 * lib/QueueWaiter.ts). Returns false if that did not happen within `timeoutMs`.
 */
export async function waitForBlockedClients(connection: Redis, count: number, timeoutMs = 2_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await connection.info('clients');
    const blocked = Number(/blocked_clients:(\d+)/.exec(info)?.[1] ?? 0);
    const list = blocked >= count ? '' : String(await connection.call('CLIENT', 'LIST'));
    const tracking = list.split('\n').filter((l) => /\sflags=\w*B/.test(l)).length;
    if (blocked + tracking >= count) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * How long the latency part leaves a worker idle before it enqueues the next job. Redis's blocked
 * clients do not show when an rq-ts worker waits (its tracking connection is flagged from its start
 * to its end), so without it rq-ts was often measured while still finishing the last job. And a worker
 * measured right after its last job is still on CPU, where one that has slept a while wakes slower:
 * on this VM, 5 ms idle raised the p50 of BullMQ in-process (0.33 -> 0.48..0.77 ms) and 5-20 ms that of
 * an rq-ts Worker (0.42 -> 0.82..1.16 ms). Every system is measured from the same state: this long after
 * its last job.
 */
export const IDLE_MS = 10;

/** Waits IDLE_MS, then until `count` workers wait for work (waitForBlockedClients). */
export async function waitUntilIdle(connection: Redis, count: number): Promise<boolean> {
  await new Promise((r) => setTimeout(r, IDLE_MS));
  return waitForBlockedClients(connection, count);
}
