import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, beforeEach } from 'node:test';
import { Redis } from 'ioredis';
import { tempDir } from './checkout.js';

export interface RedisServer {
  port: number;
  url: string;
  dir: string;
  process: ChildProcess;
  /** A new client (closed by stop()). */
  client(): Redis;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

let checked = false;
function assertRedisServerInstalled(): void {
  if (checked) return;
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(
      'redis-server is not on PATH. The tests start their own throwaway redis-server; install it (Debian: apt-get install -y redis-server) and run again.',
    );
  }
  checked = true;
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000, intervalMs = 10): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Starts a throwaway redis-server on a free loopback port (never 6379), with no persistence
 * unless `args` asks for it. One per test file.
 */
export async function startRedis(args: string[] = []): Promise<RedisServer> {
  assertRedisServerInstalled();
  const dir = tempDir('redis');
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const clients: Redis[] = [];
    const server: RedisServer = {
      port,
      url: `redis://127.0.0.1:${port}`,
      dir,
      process: proc,
      client() {
        const c = new Redis({ port, host: '127.0.0.1', lazyConnect: false, maxRetriesPerRequest: 3 });
        clients.push(c);
        return c;
      },
      async stop() {
        for (const c of clients) c.disconnect();
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGKILL');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
    try {
      await waitFor(() => output.includes('Ready to accept connections') || proc.exitCode !== null, 'redis-server to start', 10_000);
    } catch (err) {
      proc.kill('SIGKILL');
      throw err;
    }
    if (proc.exitCode === null) return server;
    if (attempt >= 3) throw new Error(`redis-server failed to start:\n${output}`);
  }
}

/**
 * The usual setup of a test file: one throwaway redis-server and a client for the whole file
 * (stopped after it), an empty database before each test. `set` receives both.
 */
export function useRedis(set: (server: RedisServer, redis: Redis) => void): void {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  before(async () => {
    server = await startRedis();
    redis = new Redis(server.url);
    set(server, redis);
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });
  beforeEach(async () => {
    await redis?.flushdb();
  });
}
