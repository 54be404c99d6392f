/**
 * Starting a work horse process, and starting the first one early. This module imports node's own
 * modules only: `rq worker` calls forkHorseEarly() before it loads anything else, so that the horse
 * loads its modules (ioredis, the framework, the plugins: about 250 ms of CPU) on the other core
 * while the worker loads the same ones, instead of after it. A cold `rq worker` then reaches its
 * first job about that much sooner (docs/performance.md).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { closeLogFile, createLogFile } from '../DirectLog.js';

const ENTRY = fileURLToPath(new URL('../cli/horse.js', import.meta.url));

/** Each horse's log of the jobs it runs directly (lib/DirectLog.ts): the worker's fd; the horse's is 4. */
const logs = new WeakMap<ChildProcess, number>();

/** Starts a horse process; it loads its modules and waits for its spec (lib/horse/ProcessHorse.ts). */
export function forkHorse(cwd: string, execArgv: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  const log = createLogFile();
  const child = fork(ENTRY, [], {
    cwd,
    detached: true,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...(log === null ? [] : [log])],
    execArgv: [...execArgv],
    env,
  });
  if (log !== null) logs.set(child, log);
  return child;
}

/** The worker's fd of `child`'s log, if it has one (ProcessHorse closes it once the horse is buried). */
export function logOf(child: ChildProcess): number | null {
  return logs.get(child) ?? null;
}

function endUnused(child: ChildProcess): void {
  child.kill('SIGKILL');
  const log = logs.get(child);
  if (log !== undefined) closeLogFile(log);
}

interface Early {
  child: ChildProcess;
  cwd: string;
  /** process.env when it was forked: a config module that changes process.env afterwards gets a fresh horse. */
  env: NodeJS.ProcessEnv;
}

let early: Early | null = null;

/** The worker class `rq worker` was given on its command line or in RQ_WORKER_CLASS, if any. */
function workerClassOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-w' || a === '--worker-class') return args[i + 1];
    if (a.startsWith('--worker-class=')) return a.slice('--worker-class='.length);
    if (a.startsWith('-w') && !a.startsWith('--')) return a.slice(2);
  }
  return process.env.RQ_WORKER_CLASS;
}

/**
 * `rq worker` whose jobs will likely run in a horse process (no SimpleWorker named on the command line
 * or in RQ_WORKER_CLASS, no --help): forks that horse now. The first ProcessHorse.start() adopts it
 * if it was started as that call would start one (same cwd, node flags and environment); otherwise,
 * or when the worker turns out to need none (SimpleWorker from a config file), it is ended unused.
 * Unreferenced meanwhile, so that it keeps no process alive; it exits by itself when its parent does.
 */
export function forkHorseEarly(argv: readonly string[]): void {
  const args = argv.slice(2);
  if (args[0] !== 'worker' || args.includes('--help') || args.includes('-h')) return;
  if (/SimpleWorker$/.test(workerClassOf(args) ?? '')) return;
  const env = { ...process.env };
  const cwd = process.cwd();
  const child = forkHorse(cwd, [], env);
  // A fork that fails (EAGAIN...) reports it here; the worker starts its horse later as usual.
  child.on('error', () => {});
  child.unref();
  child.channel?.unref();
  early = { child, cwd, env };
}

function sameEnv(a: NodeJS.ProcessEnv, b: NodeJS.ProcessEnv): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/**
 * The horse forked early, if it is still alive and was started as forkHorse(cwd, execArgv, env)
 * would start one now; else null (and the early one, if any, is ended). Hands it out once.
 */
export function takeEarlyHorse(cwd: string, execArgv: readonly string[], env: NodeJS.ProcessEnv): ChildProcess | null {
  const e = early;
  early = null;
  if (!e) return null;
  const { child } = e;
  if (child.exitCode !== null || child.signalCode !== null || !child.connected || execArgv.length > 0 || cwd !== e.cwd || !sameEnv(env, e.env)) {
    endUnused(child);
    return null;
  }
  child.ref();
  child.channel?.ref();
  return child;
}

/** Ends the horse forked early, if no ProcessHorse took it (a worker whose jobs run in its own process). */
export function discardEarlyHorse(): void {
  if (early) endUnused(early.child);
  early = null;
}
