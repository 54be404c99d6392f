/**
 * What a worker run costs besides wall time: Redis's CPU and command counters (INFO cpu, INFO
 * commandstats, read before and after the throughput run) and the worker processes' CPU (/proc/<pid>/stat).
 * Rates say how fast; these say where the time went, and whether a change moved work into Redis.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { descendants } from './procs.js';

/** Cumulative counters of the redis-server, as INFO reports them. */
export interface RedisCounters {
  /** used_cpu_user + used_cpu_sys, µs (every thread of the server; not its forked children). */
  cpuUs: number;
  /** Every command, those called from inside scripts included (commandstats counts them on their own too). */
  calls: number;
  usec: number;
  scriptCalls: number;
  scriptUsec: number;
  /** XADD's usec: rq's result stream of each job (a new stream per job), BullMQ's events stream. */
  xaddUsec: number;
}

/** What Redis did between two readings, per job run. */
export interface RedisCost {
  jobs: number;
  cpuUsPerJob: number;
  callsPerJob: number;
  /** Sum of commandstats usec per job: a script's time is in it twice (its EVALSHA or FCALL, and the commands it ran). */
  commandUsPerJob: number;
  scriptCallsPerJob: number;
  /** null when no script ran (python-rq). */
  scriptUsPerCall: number | null;
  /** Redis's time in XADD (inside scripts or not) per job. */
  xaddUsPerJob: number;
}

export async function readRedisCounters(connection: Redis): Promise<RedisCounters> {
  const [cpu, stats] = await Promise.all([connection.info('cpu'), connection.info('commandstats')]);
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? Number.NaN);
  const counters: RedisCounters = { cpuUs: (field('used_cpu_user') + field('used_cpu_sys')) * 1e6, calls: 0, usec: 0, scriptCalls: 0, scriptUsec: 0, xaddUsec: 0 };
  for (const m of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    const calls = Number(m[2]);
    const usec = Number(m[3]);
    counters.calls += calls;
    counters.usec += usec;
    // rq-ts calls its scripts with FCALL (EVALSHA where Redis has no functions); the peers with EVALSHA
    if (m[1] === 'evalsha' || m[1] === 'fcall') {
      counters.scriptCalls += calls;
      counters.scriptUsec += usec;
    }
    if (m[1] === 'xadd') counters.xaddUsec += usec;
  }
  if (!Number.isFinite(counters.cpuUs)) throw new Error(`INFO cpu has no used_cpu_user/used_cpu_sys:\n${cpu}`);
  return counters;
}

export function redisCost(before: RedisCounters, after: RedisCounters, jobs: number): RedisCost {
  const scripts = after.scriptCalls - before.scriptCalls;
  return {
    jobs,
    cpuUsPerJob: (after.cpuUs - before.cpuUs) / jobs,
    callsPerJob: (after.calls - before.calls) / jobs,
    commandUsPerJob: (after.usec - before.usec) / jobs,
    scriptCallsPerJob: scripts / jobs,
    scriptUsPerCall: scripts > 0 ? (after.scriptUsec - before.scriptUsec) / scripts : null,
    xaddUsPerJob: (after.xaddUsec - before.xaddUsec) / jobs,
  };
}

/** CPU time of the worker processes and of their descendants, per job run, µs. */
export interface ProcessCpu {
  workerUsPerJob: number;
  /**
   * Their descendants: the live ones (rq-ts horse, BullMQ sandbox) and the ones already reaped
   * (python-rq's fork per job, counted in the parent's cutime/cstime).
   */
  childUsPerJob: number;
  /**
   * The thread of those processes that used the most CPU (the one running the jobs' loop): its CPU
   * per job, and its share of the run's wall time. Near 1, that thread is the bottleneck; well
   * below, the worker waits for Redis between jobs.
   */
  busiestThreadUsPerJob: number;
  busiestThreadBusy: number;
}

let ticksPerSecond: number | null = null;

function clockTicks(): number {
  if (ticksPerSecond === null) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout);
    if (r.status !== 0 || !(n > 0)) throw new Error(`getconf CLK_TCK failed (${r.status ?? r.error?.message}): cannot turn /proc CPU times into seconds`);
    ticksPerSecond = n;
  }
  return ticksPerSecond;
}

/** [utime + stime, cutime + cstime] in clock ticks from a proc(5) stat file (a process's or a thread's), or null when it is gone. */
function cpuTicks(statFile: string): [number, number] | null {
  try {
    const stat = readFileSync(statFile, 'utf8');
    // pid (comm) state ...: comm may hold spaces and parentheses, so count fields after the last ')'.
    // Fields 14-17 of proc(5) (utime stime cutime cstime) are the 12th-15th after it.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    return [f[11]! + f[12]!, f[13]! + f[14]!];
  } catch {
    return null;
  }
}

/** The most CPU any one thread of a process has used, in clock ticks (0 when it is gone). */
function busiestThreadTicks(pid: number): number {
  let most = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) most = Math.max(most, cpuTicks(`/proc/${pid}/task/${tid}/stat`)?.[0] ?? 0);
  } catch {
    // gone meanwhile
  }
  return most;
}

/** Read while the workers still run (their live descendants vanish with them); `wallMs`: the run's wall time, from the spawn. */
export function processCpu(workerPids: readonly number[], jobs: number, wallMs: number): ProcessCpu {
  let worker = 0;
  let children = 0;
  let busiest = 0;
  for (const pid of workerPids) {
    const [own, reaped] = cpuTicks(`/proc/${pid}/stat`) ?? [0, 0];
    worker += own;
    children += reaped;
    busiest = Math.max(busiest, busiestThreadTicks(pid));
    for (const child of descendants(pid)) {
      const [childOwn, childReaped] = cpuTicks(`/proc/${child}/stat`) ?? [0, 0];
      children += childOwn + childReaped;
      busiest = Math.max(busiest, busiestThreadTicks(child));
    }
  }
  const us = 1e6 / clockTicks();
  return {
    workerUsPerJob: (worker * us) / jobs,
    childUsPerJob: (children * us) / jobs,
    busiestThreadUsPerJob: (busiest * us) / jobs,
    busiestThreadBusy: (busiest * us) / (wallMs * 1000),
  };
}
