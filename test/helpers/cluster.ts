/**
 * A throwaway Redis Cluster on loopback: three masters (no replicas) on free ports, each with its
 * cluster config file in a temp folder, joined by `redis-cli --cluster create`, torn down by stop().
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { tempDir } from './checkout.js';
import { freePort } from './cli.js';
import { waitFor } from './redis.js';

export interface ClusterSetup {
  ports: number[];
  /** `127.0.0.1:p1,127.0.0.1:p2,...`, as `--cluster` takes it. */
  seeds: string;
  /** The port of the master that owns `slot`. */
  ownerOf(slot: number): Promise<number>;
  /** A plain client of one node (closed by stop()). */
  node(port: number): Redis;
  stop(): Promise<void>;
}

export async function startCluster(masters = 3): Promise<ClusterSetup> {
  const dir = tempDir('cluster');
  const procs: ChildProcess[] = [];
  const clients: Redis[] = [];
  const stop = async (): Promise<void> => {
    for (const c of clients) c.disconnect();
    await Promise.all(
      procs.map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once('exit', r));
        p.kill('SIGKILL');
        await gone;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const ports: number[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      ports.push(port);
      const p = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
          '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '5000'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      procs.push(p);
      await waitFor(() => output.includes('Ready to accept connections') || p.exitCode !== null, `cluster node ${port} to start`, 10_000);
      if (p.exitCode !== null) throw new Error(`redis-server --cluster-enabled exited:\n${output}`);
    }
    const create = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
    const node = (port: number): Redis => {
      const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 3 });
      clients.push(c);
      return c;
    };
    // Ready when every node says the cluster is ok (the slots are assigned and the nodes have met).
    for (const port of ports) {
      const c = node(port);
      await waitFor(async () => String(await c.call('CLUSTER', 'INFO')).includes('cluster_state:ok'), `cluster node ${port} to report cluster_state:ok`, 20_000, 100);
    }
    const first = node(ports[0]!);
    return {
      ports,
      seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
      async ownerOf(slot) {
        const slots = (await first.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
        const range = slots.find(([from, to]) => slot >= from && slot <= to);
        if (!range) throw new Error(`no node owns slot ${slot}`);
        return Number(range[2][1]);
      },
      node,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
