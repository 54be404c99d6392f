/**
 * A throwaway Sentinel deployment on loopback: a master, one replica of it and one redis-sentinel
 * watching them as `mymaster` (quorum 1), all on free ports, torn down by stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { tempDir } from './checkout.js';
import { startRedis, waitFor, type RedisServer } from './redis.js';

export const MASTER_NAME = 'mymaster';

export interface SentinelSetup {
  /** The servers by the role they started in (after a failover `replica` is the master). */
  master: RedisServer;
  replica: RedisServer;
  sentinelPort: number;
  /** A client of the sentinel (closed by stop()). */
  sentinel: Redis;
  /** The port of the server the sentinel names master now. */
  masterPort(): Promise<number>;
  /** `SENTINEL FAILOVER`, then waits until the sentinel names the replica master and it says so itself. */
  failover(timeoutMs?: number): Promise<number>;
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

function assertSentinelInstalled(): void {
  const r = spawnSync('redis-sentinel', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error('redis-sentinel is not on PATH. The failover tests start their own; install it (Debian: apt-get install -y redis-sentinel) and run again.');
  }
}

/** `masterArgs` go to the master only (e.g. `--min-replicas-to-write 1`). */
export async function startSentinel(masterArgs: string[] = []): Promise<SentinelSetup> {
  assertSentinelInstalled();
  const master = await startRedis(masterArgs);
  const stops: (() => Promise<void>)[] = [() => master.stop()];
  let proc: ChildProcess | undefined;
  let sentinel: Redis | undefined;
  const dir = tempDir('sentinel');
  const stop = async (): Promise<void> => {
    sentinel?.disconnect();
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const gone = new Promise((r) => proc!.once('exit', r));
      proc.kill('SIGKILL');
      await gone;
    }
    for (const s of stops.reverse()) await s();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const replica = await startRedis(['--replicaof', '127.0.0.1', String(master.port)]);
    stops.push(() => replica.stop());
    const sentinelPort = await freePort();
    // The sentinel rewrites its config file (known replicas, epochs), so it lives in a temp folder.
    writeFileSync(
      join(dir, 'sentinel.conf'),
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 1`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 2000`,
        `sentinel failover-timeout ${MASTER_NAME} 10000`,
        '',
      ].join('\n'),
    );
    let output = '';
    proc = spawn('redis-sentinel', [join(dir, 'sentinel.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    sentinel = new Redis({ port: sentinelPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 100 });
    sentinel.on('error', () => {});
    const s = sentinel;
    await waitFor(() => output.includes('monitor master') || proc!.exitCode !== null, `redis-sentinel to start (output:\n${output})`, 15_000, 50);
    if (proc.exitCode !== null) throw new Error(`redis-sentinel exited:\n${output}`);
    await s.connect();
    // A failover needs a replica the sentinel has seen up and in sync (it learns of it from the master's INFO).
    await waitFor(
      async () => {
        const replicas = (await s.call('SENTINEL', 'replicas', MASTER_NAME)) as string[][];
        return replicas.some((flat) => {
          const f = fields(flat);
          return f.port === String(replica.port) && f.flags === 'slave' && f['master-link-status'] === 'ok';
        });
      },
      `the sentinel to see the replica in sync (output:\n${output})`,
      30_000,
      100,
    );
    const masterPort = async (): Promise<number> => {
      const addr = (await s.call('SENTINEL', 'get-master-addr-by-name', MASTER_NAME)) as string[];
      return Number(addr[1]);
    };
    return {
      master,
      replica,
      sentinelPort,
      sentinel: s,
      masterPort,
      async failover(timeoutMs = 30_000) {
        const from = await masterPort();
        await s.call('SENTINEL', 'FAILOVER', MASTER_NAME);
        const to = await waitFor(async () => {
          const port = await masterPort();
          return port !== from ? port : 0;
        }, `the sentinel to name a new master (output:\n${output})`, timeoutMs, 20);
        const promoted = to === replica.port ? replica : master;
        const c = promoted.client();
        await waitFor(async () => (await c.call('ROLE') as unknown[])[0] === 'master', 'the new master to say it is master', timeoutMs, 20);
        return to;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A flat [k, v, k, v] reply as an object. */
export function fields(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}
