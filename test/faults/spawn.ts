/**
 * Worker processes for the fault-injection suite: `node dist/lib/cli/main.js worker ...` in a temp
 * cwd, each in its own process group (detached), with a hard deadline, plus bookkeeping so that
 * every worker and every horse it forked is killed at the end whatever happened.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type { Redis } from 'ioredis';
import { connect } from '../../lib/index.js';
import { cleanEnv } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { repoRoot } from '../helpers/worker.js';
import { TcpProxy } from './proxy.js';
import { tempDir } from '../helpers/checkout.js';

export const bin = join(repoRoot, 'dist/lib/cli/main.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface FaultWorker {
  child: ChildProcess;
  pid: number;
  name: string;
  output(): string;
  exited: Promise<Exit>;
  done(): boolean;
}

export { alive } from '../helpers/processes.js';

/** Child pids of `pid` (the horse of a worker). */
export function childrenOf(pid: number): number[] {
  const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8', timeout: 5000 });
  return (r.stdout ?? '')
    .split('\n')
    .map((s) => Number.parseInt(s.trim(), 10))
    .filter((n) => n > 0);
}

export class Workers {
  private readonly running = new Set<FaultWorker>();
  private readonly horses = new Set<number>();
  private counter = 0;

  constructor(
    private readonly url: () => string,
    private readonly cwd: () => string,
    private readonly prefix: string,
  ) {}

  spawn(args: string[], timeoutMs = 55_000, extraNodeArgs: string[] = []): FaultWorker {
    const name = `${this.prefix}-${process.pid}-${++this.counter}`;
    // No URL: the worker connects as its settings file (-c) says, e.g. through Sentinel.
    const url = this.url();
    const child = spawn(process.execPath, [...extraNodeArgs, bin, 'worker', ...(url ? ['-u', url] : []), '-n', name, '-P', repoRoot, ...args], {
      cwd: this.cwd(),
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    assert.ok(child.pid, 'the worker process started');
    let out = '';
    let finished = false;
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => this.killGroup(child), timeoutMs);
    timer.unref();
    const w: FaultWorker = {
      child,
      pid: child.pid,
      name,
      output: () => out,
      exited: new Promise<Exit>((resolve) => {
        child.once('close', (code, signal) => {
          clearTimeout(timer);
          finished = true;
          this.running.delete(w);
          resolve({ code, signal });
        });
      }),
      done: () => finished,
    };
    this.running.add(w);
    return w;
  }

  /** Remembers the current horse(s) of `w`, so cleanup can kill them if they outlive their worker. */
  noteHorses(w: FaultWorker): number[] {
    const pids = childrenOf(w.pid);
    for (const p of pids) this.horses.add(p);
    return pids;
  }

  killGroup(child: ChildProcess): void {
    if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }

  /** Horses seen that are still running (orphans). */
  liveHorses(): number[] {
    return [...this.horses].filter((pid) => isHorse(pid));
  }

  async cleanup(): Promise<void> {
    const waits: Promise<Exit>[] = [];
    for (const w of this.running) {
      this.noteHorses(w);
      this.killGroup(w.child);
      waits.push(w.exited);
    }
    await Promise.all(waits);
    for (const pid of this.horses) {
      if (isHorse(pid)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
      }
    }
  }
}

export function isHorse(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('horse');
  } catch {
    return false;
  }
}

/** The worker's exit within `ms`; on timeout the group is SIGKILLed and the test fails with the output. */
export async function waitExit(workers: Workers, w: FaultWorker, ms: number): Promise<Exit> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const r = await Promise.race([w.exited, timeout]);
  clearTimeout(timer);
  if (r === 'timeout') {
    workers.killGroup(w.child);
    await w.exited;
    assert.fail(`worker ${w.name} did not exit within ${ms} ms; output:\n${w.output().slice(-4000)}`);
  }
  return r;
}

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const SOAK = process.env.RQ_SOAK === '1';

/** What a fault test file runs against: its own redis-server, a client, a temp working folder. */
export interface FaultSetup {
  server: RedisServer;
  redis: Redis;
  cwd: string;
  /** A TCP proxy in front of the server (`proxy: true`); the workers then connect through it. */
  proxy: TcpProxy | null;
}

/**
 * The setup every fault test file shares (before/after of the file): starts the server (and the
 * proxy), connects, makes the working folder; at the end kills every worker and horse spawned,
 * then removes it all. `ready` receives the setup, as useRedis does; returns the file's Workers.
 */
export function useFaultSetup(prefix: string, ready: (setup: FaultSetup) => void, options: { proxy?: boolean; redisArgs?: string[] } = {}): Workers {
  let setup: FaultSetup | null = null;
  const workers = new Workers(
    () => (setup!.proxy ?? setup!.server).url,
    () => setup!.cwd,
    prefix,
  );
  before(async () => {
    const server = await startRedis(options.redisArgs ?? []);
    setup = {
      server,
      redis: connect(server.url),
      cwd: tempDir(`faults-${prefix}`),
      proxy: options.proxy ? await TcpProxy.start(server.port) : null,
    };
    ready(setup);
  });
  after(async () => {
    await workers.cleanup();
    setup?.redis.disconnect();
    await setup?.proxy?.close();
    await setup?.server.stop();
    if (setup) rmSync(setup.cwd, { recursive: true, force: true });
  });
  return workers;
}
