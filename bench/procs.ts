/**
 * Processes the benchmark starts: each with a hard timeout, its output in a log file (kept for error
 * messages, never a pipe the worker could block on), killed with its whole tree at the end or on error.
 */
import { spawn, type ChildProcess, type Serializable } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SpawnOptions {
  /** Shown in errors. */
  name: string;
  cwd: string;
  logDir: string;
  env?: Record<string, string>;
  /** The process (and its descendants) is SIGKILLed after this long, whatever happens. */
  timeoutMs: number;
  /** Open an IPC channel (node children only). */
  ipc?: boolean;
}

export interface Tracked {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal name) when the process exits. */
  readonly exited: Promise<number | string>;
  readonly hasExited: () => boolean;
  /** The last `chars` characters of its output. */
  logTail(chars?: number): string;
  send(message: Serializable): void;
  /** SIGTERM (warm shutdown), then SIGKILL of the whole tree after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Tracked>();

/** Pids of every descendant of `pid` (children, grandchildren...), from /proc. */
export function descendants(pid: number): number[] {
  const parentOf = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parentOf.get(ppid) ?? [];
      list.push(Number(entry));
      parentOf.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const child of parentOf.get(todo.pop()!) ?? []) {
      out.push(child);
      todo.push(child);
    }
  }
  return out;
}

/** Resident memory of a process in KiB (VmRSS of /proc/<pid>/status), or null when it is gone. */
export function rssKib(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** SIGKILLs a process, its process group and every descendant (an rq-ts horse has its own group). */
function killTree(pid: number): void {
  const tree = descendants(pid);
  killQuietly(-pid, 'SIGKILL');
  killQuietly(pid, 'SIGKILL');
  for (const p of tree) killQuietly(p, 'SIGKILL');
}

export function spawnTracked(command: string, args: string[], options: SpawnOptions): Tracked {
  const logFile = join(options.logDir, `${options.name.replace(/[^\w.-]+/g, '_')}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
  const fd = openSync(logFile, 'w');
  let proc: ChildProcess;
  try {
    proc = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: options.ipc ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd],
      // Its own process group, so the tree can be killed at once.
      detached: true,
    });
  } finally {
    closeSync(fd);
  }
  if (proc.pid === undefined) throw new Error(`${options.name}: could not start ${command}`);
  const pid = proc.pid;
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      done = true;
      resolve(code ?? signal ?? 'unknown');
    });
    proc.once('error', () => {
      done = true;
      resolve('spawn error');
    });
  });
  const hardTimeout = setTimeout(() => {
    process.stderr.write(`bench: ${options.name} (pid ${pid}) ran past its ${options.timeoutMs} ms limit; killed\n`);
    killTree(pid);
  }, options.timeoutMs);
  hardTimeout.unref();
  const tracked: Tracked = {
    name: options.name,
    pid,
    proc,
    logFile,
    exited,
    hasExited: () => done,
    logTail(chars = 3000) {
      try {
        const text = readFileSync(logFile, 'utf8');
        return text.slice(-chars);
      } catch {
        return '';
      }
    },
    send(message) {
      proc.send?.(message);
    },
    async stop(graceMs = 10_000) {
      const tree = descendants(pid);
      if (!done) {
        killQuietly(pid, 'SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
      }
      if (!done) killTree(pid);
      for (const p of tree) killQuietly(p, 'SIGKILL');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2_000))]);
      clearTimeout(hardTimeout);
      live.delete(tracked);
    },
  };
  live.add(tracked);
  void exited.then(() => clearTimeout(hardTimeout));
  return tracked;
}

/** Kills everything still running (on error, on exit). Synchronous, so it also works in an exit handler. */
export function killAll(): void {
  for (const t of live) killTree(t.pid);
  live.clear();
}

/** Resolves when `check` is truthy; throws after `timeoutMs` with `what`, or at once if `abort` says why. */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs: number,
  intervalMs = 10,
  abort?: () => string | null,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    const reason = abort?.();
    if (reason) throw new Error(`while waiting for ${what}: ${reason}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
