import { closeSync, fstatSync, ftruncateSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Keys } from './redis/keys.js';

/** A success that rqFinishMany records (group commit): what its call needs of the job. */
export interface GroupedSuccess {
  id: string;
  /** The queue it was taken from: its intermediate list, StartedJobRegistry, FinishedJobRegistry. */
  queue: string;
  key: string;
  dependentsKey: string;
  dependenciesKey: string;
  /** rq timestamps. */
  startedAt: string;
  endedAt: string;
  resultTtl: number;
  /** Seconds it ran. */
  working: number;
  /** Its result stream entry (field/value pairs). */
  fields: string[];
  /** Registered as started; else it ran straight from its intermediate list. */
  claimed: boolean;
}

/** rqFinishMany's per-job KEYS (8 a job, before the NEXT block's) and ARGV lists for `entries`. */
export function finishManyParts(keys: Keys, entries: readonly GroupedSuccess[]) {
  const rest: string[] = [];
  for (const e of entries) {
    rest.push(e.key, keys.finished(e.queue), keys.results(e.id), e.dependentsKey, e.dependenciesKey, keys.intermediate(e.queue), keys.queue(e.queue), keys.started(e.queue));
  }
  return {
    rest,
    args: {
      ids: entries.map((e) => e.id),
      startedAt: entries.map((e) => e.startedAt),
      endedAt: entries.map((e) => e.endedAt),
      resultTtls: entries.map((e) => e.resultTtl),
      claimed: entries.map((e) => (e.claimed ? '1' : '0') as '1' | '0'),
      results: entries.map((e) => e.fields),
    },
  };
}

/**
 * Past this size, and past four times what still matters (the successes not yet recorded, the held
 * jobs, the running job), the log starts over with only that: rewriting it then costs at most a
 * third of what was written since the last start-over, even when jobs return large results.
 */
const RESET_BYTES = 1 << 16;

/** The horse's file descriptor of its log (stdio[4] when forked: lib/horse/fork.ts). */
export const HORSE_LOG_FD = 4;

/**
 * Group commit in a Worker's horse (lib/Lookahead.ts, plugins/CleanupPlugin.ts): the horse runs short
 * jobs straight from their intermediate lists and records their successes in batches, so when it
 * dies, Redis alone cannot tell which job killed it nor which ran and finished. This log tells:
 * before a job runs directly the horse writes `S` (the job), and before that, or before a batch is
 * sent, an `F` line per success not yet written (what rqFinishMany needs). At a death the worker
 * records the successes still in their intermediate lists as finished and fails the job that was
 * running, as it does for a horse's started job: no job runs twice. `T` lines name the jobs taken
 * ahead (at once) and `L` those started by a call (with the next line), `R` those it gave back
 * (once Redis has them back): the worker gives back to their queues
 * the jobs the horse still held when it died, which may have been taken by calls older than the
 * replay summaries in the worker hash (one call per job while jobs are not short, 24 held).
 *
 * The file is created and unlinked by the worker when it forks the horse (createLogFile), which
 * passes it as the horse's fd 4 and keeps its own fd to read it: nothing is left on disk, whatever
 * ends either process. One pwrite() per job (about 3 µs on this machine); the kernel keeps what
 * was written when the horse is SIGKILLed.
 */
export class DirectLog {
  private offset = 0;
  private pending = '';
  /** The F lines of successes Redis has not confirmed yet, by job id: written again after a reset. */
  private readonly unconfirmed = new Map<string, string>();
  /** Their length in characters. */
  private unconfirmedLength = 0;
  /** The S line of the job running directly, if any. */
  private running = '';
  /** The jobs held ahead, id -> queue: written again after a reset. */
  private readonly held = new Map<string, string>();
  /** A write failed (a full disk): the log cannot be trusted to be complete from then on. */
  failed = false;

  private constructor(private readonly fd: number) {}

  /** The log its worker gave this horse; throws when it has none (fd 4 is not a file). */
  static adopt(fd = HORSE_LOG_FD): DirectLog {
    if (!fstatSync(fd).isFile()) throw new Error(`fd ${fd} is not a file`);
    ftruncateSync(fd, 0);
    return new DirectLog(fd);
  }

  /** A job is about to run directly: false if that could not be written (it must then be registered as started first). */
  started(queue: string, id: string): boolean {
    const line = `${JSON.stringify(['S', queue, id])}\n`;
    if (!this.write(line)) return false;
    this.held.delete(id);
    this.running = line;
    return true;
  }

  /**
   * Jobs taken ahead, as queue, id, queue, id, ...: written at once (one write per reply that takes
   * some). Left for the next write, they would rest on the replay summary of the call that took them,
   * which later calls may overwrite before that write (a take's reply is handled after its slot is
   * free again).
   */
  took(pairs: string[]): void {
    for (let i = 0; i + 1 < pairs.length; i += 2) this.held.set(pairs[i + 1]!, pairs[i]!);
    this.write(`${JSON.stringify(['T', ...pairs])}\n`);
  }

  /** A held job is started by a call (registered as started): nothing to give back (written at the next write). */
  left(id: string): void {
    if (this.held.delete(id)) this.pending += `${JSON.stringify(['L', id])}\n`;
  }

  /** Held jobs given back: written at once, so that a dead horse's worker does not give them back again (someone else may have taken them since). */
  released(ids: readonly string[], seq: number): void {
    for (const id of ids) this.held.delete(id);
    this.write(`${JSON.stringify(['R', seq, ...ids])}\n`);
  }

  /** A job that ran directly succeeded: written at the next write (before the next direct job or batch). */
  finished(e: GroupedSuccess): void {
    const line = `${JSON.stringify(['F', e.id, e.queue, e.key, e.dependentsKey, e.dependenciesKey, e.startedAt, e.endedAt, e.resultTtl, e.working, e.fields])}\n`;
    this.forget(e.id);
    this.unconfirmed.set(e.id, line);
    this.unconfirmedLength += line.length;
    this.pending += line;
    this.running = '';
  }

  /** Writes what waits (a batch is about to be sent). */
  flush(): void {
    if (this.pending !== '') this.write('');
  }

  /** Redis recorded these jobs (or they went another way): their lines are not needed any more. */
  confirmed(ids: readonly string[]): void {
    for (const id of ids) this.forget(id);
  }

  private forget(id: string): void {
    const line = this.unconfirmed.get(id);
    if (line === undefined) return;
    this.unconfirmedLength -= line.length;
    this.unconfirmed.delete(id);
  }

  private write(line: string): boolean {
    if (this.failed) return false;
    let text = this.pending + line;
    try {
      // A held job's T entry is ~50 bytes.
      if (this.offset > RESET_BYTES && this.offset > 4 * (this.unconfirmedLength + 64 * this.held.size)) {
        ftruncateSync(this.fd, 0);
        this.offset = 0;
        const held: string[] = [];
        for (const [id, queue] of this.held) held.push(queue, id);
        // The running job's S line, unless this line is the next job's.
        const running = line.startsWith('["S"') ? '' : this.running;
        text = (held.length > 0 ? `${JSON.stringify(['T', ...held])}\n` : '') + [...this.unconfirmed.values()].join('') + running + line;
      }
      const buf = Buffer.from(text);
      writeSync(this.fd, buf, 0, buf.length, this.offset);
      this.offset += buf.length;
      this.pending = '';
      return true;
    } catch {
      this.failed = true;
      return false;
    }
  }

}

/** A new log for a horse about to be forked: an unlinked file's fd, or null when none can be created (the horse then does not group). */
export function createLogFile(): number | null {
  const path = join(tmpdir(), `rq-ts-horse-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.log`);
  try {
    const fd = openSync(path, 'wx+', 0o600);
    unlinkSync(path);
    return fd;
  } catch {
    return null;
  }
}

/** Closes the worker's fd of a horse's log (the file goes with it). */
export function closeLogFile(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // closed already
  }
}

/** What a dead horse's log says: see readDirectLog. */
export interface HorseLog {
  /** The successes it logged (some may have been recorded by Redis since). */
  finished: GroupedSuccess[];
  /** The job it was running directly, if any. */
  running: { queue: string; id: string } | null;
  /** The jobs it held ahead, in the order it took them (and those it was giving back). */
  held: { queue: string; id: string }[];
  /**
   * The jobs it gave back (and did not take again, as far as its log says), with the sequence number
   * of the last call it had sent then: a replay summary of a later call that took one again (its
   * reply lost with the horse) still counts.
   */
  released: Map<string, number>;
}

/** Reads a dead horse's log (its worker's fd). */
export function readDirectLog(fd: number): HorseLog {
  let text: string;
  try {
    const buf = Buffer.alloc(fstatSync(fd).size);
    const n = readSync(fd, buf, 0, buf.length, 0);
    text = buf.toString('utf8', 0, n);
  } catch {
    return { finished: [], running: null, held: [], released: new Map() };
  }
  const finished = new Map<string, GroupedSuccess>();
  let running: { queue: string; id: string } | null = null;
  const held = new Map<string, string>();
  const released = new Map<string, number>();
  for (const line of text.split('\n')) {
    let r: unknown;
    try {
      r = JSON.parse(line);
    } catch {
      continue; // empty, or the last line cut short by the death
    }
    if (!Array.isArray(r)) continue;
    if (r[0] === 'T') {
      for (let i = 1; i + 1 < r.length; i += 2) {
        held.set(String(r[i + 1]), String(r[i]));
        // Given back earlier, and taken again since.
        released.delete(String(r[i + 1]));
      }
    } else if (r[0] === 'L' && typeof r[1] === 'string') {
      held.delete(r[1]);
    } else if (r[0] === 'R' && typeof r[1] === 'number') {
      for (const id of r.slice(2)) {
        held.delete(String(id));
        released.set(String(id), r[1]);
      }
    } else if (r[0] === 'S' && typeof r[1] === 'string' && typeof r[2] === 'string') {
      held.delete(r[2]);
      running = { queue: r[1], id: r[2] };
      // A later run of the same id: what an older line said of it no longer holds.
      finished.delete(r[2]);
    } else if (r[0] === 'F' && r.length === 11 && Array.isArray(r[10])) {
      const [, id, queue, key, dependentsKey, dependenciesKey, startedAt, endedAt, resultTtl, working, fields] = r as [string, string, string, string, string, string, string, string, number, number, string[]];
      finished.set(id, { id, queue, key, dependentsKey, dependenciesKey, startedAt, endedAt, resultTtl, working, fields, claimed: false });
      if (running?.id === id) running = null;
    }
  }
  return { finished: [...finished.values()], running, held: [...held].map(([id, queue]) => ({ queue, id })), released };
}
