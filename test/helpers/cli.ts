/**
 * Black-box helpers for the `rq` binary: spawn it as a child process (always with a deadline),
 * in a throwaway project folder that the test fills with its own job modules and settings.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { connect, Queue } from '../../lib/index.js';
import { startRedis, waitFor, type RedisServer } from './redis.js';
import { repoRoot } from './worker.js';
import { tempDir } from './checkout.js';

/** The built binary (package.json `bin.rq`). */
export const rqBin = join(repoRoot, 'dist/lib/cli/main.js');
/**
 * What a user module in a temp folder imports to reach rq-ts: the built entry point, i.e. the very
 * module instance the binary uses (so `class MyWorker extends Worker` passes the CLI's instanceof check).
 */
export const distIndex = join(repoRoot, 'dist/lib/index.js');
/** ioredis as the binary loads it, for custom connection classes. */
export const ioredisEntry = join(repoRoot, 'node_modules/ioredis/built/index.js');

/** A log line in the default format `%(asctime)s %(message)s` with `%H:%M:%S`. */
export const DEFAULT_LOG_LINE = /^\d\d:\d\d:\d\d /;

/** The parent's environment without RQ_* and REDIS_* variables, so nothing of the host leaks into a test. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(RQ_|REDIS_|SENTRY_)/.test(k)) continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Temp project folders, removed by cleanup(). */
export class Projects {
  private readonly dirs: string[] = [];

  /** A new folder holding `files` (relative path -> content; folders are created). */
  make(files: Record<string, string> = {}): string {
    const dir = tempDir('cli');
    this.dirs.push(dir);
    writeFiles(dir, files);
    return dir;
  }

  cleanup(): void {
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const file = join(dir, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}

/** The job module most tests use (`jobs.add`, `jobs.boom`, ...), importing rq-ts by absolute path. */
export const JOBS_TS = `
import { getCurrentJob } from ${JSON.stringify(distIndex)};
export function add(a: number, b: number): number { return a + b; }
export function noop(): void {}
export function boom(message = 'nope'): never { throw new TypeError(message); }
export function pid(): number { return process.pid; }
export async function record(key: string, value: string): Promise<string> {
  await getCurrentJob()!.connection.rpush(key, value);
  return value;
}
/** Blocks until something is pushed to \`key\` (at most 20 s). */
export async function hold(key: string): Promise<string> {
  const c = getCurrentJob()!.connection.duplicate();
  try { await c.brpop(key, 20); } finally { c.disconnect(); }
  return 'released';
}
/** The \`traced\` mark a custom connection class may set on its instances (null for ioredis' plain Redis). */
export function connectionTrace(): unknown { return (getCurrentJob()!.connection as unknown as { traced?: unknown }).traced ?? null; }
`;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RqProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  readonly output: string;
  readonly exited: Promise<Exit>;
  /** Waits until the output matches `pattern` (fails early if the process exits first). */
  waitForOutput(pattern: string | RegExp, what?: string, timeoutMs?: number): Promise<void>;
  /** Sends `signal` and waits for the exit (SIGKILL and a failure after `timeoutMs`). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /**
   * Hard deadline: the process is SIGKILLed after this and the run counts as failed. 90 s by
   * default: on a 2-core machine under load (load average 20-40), a burst worker whose job goes to a
   * horse that is replaced after a timeout took over 30 s for a run that takes 3 s on an idle machine.
   */
  timeoutMs?: number;
}

/** Starts `rq <args>` (node dist/lib/cli/main.js) with a clean environment. */
export function spawnRq(args: readonly string[], options: SpawnOptions): RqProcess {
  const child = spawn(process.execPath, [rqBin, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
    output += d.toString();
  });
  let timedOut = false;
  const timeoutMs = options.timeoutMs ?? 90_000;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  let done = false;
  const exited = new Promise<Exit>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'close': the pipes are drained too, so the output is complete.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      done = true;
      if (timedOut) reject(new Error(`rq ${args.join(' ')} did not exit within ${timeoutMs} ms; output:\n${output}`));
      else resolve({ code, signal });
    });
  });
  // Callers that only use waitForOutput must not see an unhandled rejection.
  exited.catch(() => {});
  const proc: RqProcess = {
    child,
    pid: child.pid ?? 0,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    get output() {
      return output;
    },
    exited,
    async waitForOutput(pattern, what, waitMs = 20_000) {
      const matches = (): boolean => (typeof pattern === 'string' ? output.includes(pattern) : pattern.test(output));
      try {
        await waitFor(() => {
          if (matches()) return true;
          if (done) throw new Error('the process exited');
          return false;
        }, what ?? `output matching ${String(pattern)}`, waitMs);
      } catch (err) {
        throw new Error(`${(err as Error).message}; exit: ${done ? 'yes' : 'no'}; output so far:\n${output}`);
      }
      if (!matches()) throw new Error(`rq exited before printing ${String(pattern)}; output:\n${output}`);
    },
    async stop(signal = 'SIGTERM', stopMs = 15_000) {
      if (!done) child.kill(signal);
      const killer = setTimeout(() => child.kill('SIGKILL'), stopMs);
      try {
        return await exited;
      } finally {
        clearTimeout(killer);
      }
    },
  };
  return proc;
}

export interface RunResult extends Exit {
  stdout: string;
  stderr: string;
  output: string;
  pid: number;
  /** Wall-clock milliseconds from spawn to exit. */
  ms: number;
}

/** Runs `rq <args>` to completion (bounded by `timeoutMs`). */
export async function runRq(args: readonly string[], options: SpawnOptions): Promise<RunResult> {
  const start = Date.now();
  const p = spawnRq(args, options);
  const exit = await p.exited;
  return { ...exit, stdout: p.stdout, stderr: p.stderr, output: p.output, pid: p.pid, ms: Date.now() - start };
}

/** A message for assertion failures: how rq exited and what it printed. */
export function describeRun(r: { code: number | null; signal?: NodeJS.Signals | null; output: string }): string {
  return `exit ${r.code}${r.signal ? ` (${r.signal})` : ''}; output:\n${r.output}`;
}

/** Non-empty lines of a text. */
export const linesOf = (text: string): string[] => text.split('\n').filter((l) => l.trim() !== '');

/** commander's hint after a usage error, e.g. `(run "rq worker --help" for usage)`. */
export const HELP_HINT = /^\(run .*--help.* for usage\)$/;

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * Waits until `count` workers on database `db` wait for work: each holds one connection that tracks
 * writes to its queues (CLIENT TRACKING BCAST, flag B in CLIENT LIST; lib/QueueWaiter.ts), made at its
 * first wait. Only then is a signal sure to find a worker past its start, in its dequeue loop.
 */
export async function waitUntilWaiting(redis: { call(...args: string[]): Promise<unknown> }, db: number, count = 1, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      const list = String(await redis.call('CLIENT', 'LIST'));
      return list.split('\n').filter((l) => l.includes(` db=${db} `) && /\sflags=\w*B/.test(l)).length >= count;
    },
    `${count} worker(s) waiting for work on db ${db}`,
    timeoutMs,
  );
}

/** A Redis database of one test case: its URL, a client on it, its queues. */
export interface TestDb {
  db: number;
  url: string;
  redis: Redis;
  queue: (name?: string) => Queue;
}

/**
 * The setup the CLI test files share: one redis-server with 64 databases for the file, a database
 * of its own for each test case (`freshDb`), temp project folders; all removed after the file,
 * after `beforeStop` (workers still running, say).
 */
export function useCliRedis(options: { beforeStop?: () => Promise<void> } = {}): { projects: Projects; freshDb: () => TestDb } {
  let server: RedisServer | null = null;
  const projects = new Projects();
  const clients: Redis[] = [];
  let lastDb = 0;
  before(async () => {
    server = await startRedis(['--databases', '64']);
  });
  after(async () => {
    await options.beforeStop?.();
    for (const c of clients) c.disconnect();
    projects.cleanup();
    await server?.stop();
  });
  const freshDb = (): TestDb => {
    const db = ++lastDb;
    const url = `${server!.url}/${db}`;
    const redis = connect(url);
    clients.push(redis);
    return { db, url, redis, queue: (name = 'default') => new Queue(name, { connection: redis }) };
  };
  return { projects, freshDb };
}
