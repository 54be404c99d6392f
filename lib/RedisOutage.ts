import type { Redis } from 'ioredis';
import type { Logger } from './logging.js';

/**
 * Error replies Redis gives while it cannot answer for now, whatever the command: a script spinning
 * past busy-reply-threshold (BUSY), a restart reading its dataset (LOADING), a failover (READONLY,
 * MASTERDOWN, NOREPLICAS), a cluster resharding or down (TRYAGAIN, CLUSTERDOWN), maxmemory with
 * noeviction (OOM). Redis ran nothing of the refused command (a script refused for OOM is refused at
 * its first write that could grow memory, before it wrote anything), so sending it again is safe.
 */
const TRANSIENT_REPLY = /^(BUSY|LOADING|READONLY|MASTERDOWN|NOREPLICAS|TRYAGAIN|CLUSTERDOWN|OOM)\b/;

/** Messages of ioredis' own errors when the connection is down or a command was cut off. */
const CONNECTION_LOST = /Connection is closed|Stream isn't writeable|Command timed out|Reached the max retries per request limit|connect ETIMEDOUT/;

/** Shortest and longest wait between two attempts: resumes within 2 s of Redis answering again. */
export const FIRST_RETRY_MS = 50;
export const MAX_RETRY_MS = 2000;

/**
 * Whether `err` says Redis could not answer for now (an error reply above, a lost connection), as
 * opposed to a permanent error: a script failing on the data it met (WRONGTYPE, ERR ...), a bug.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'ReplyError') {
    if (TRANSIENT_REPLY.test(err.message)) return true;
    // MULTI/EXEC: a command refused while queued (OOM) aborts the transaction, which ran nothing.
    const previous = (err as Error & { previousErrors?: unknown[] }).previousErrors;
    return /^EXECABORT/.test(err.message) && Array.isArray(previous) && previous.length > 0 && previous.every(isTransient);
  }
  if (err.name === 'MaxRetriesPerRequestError') return true;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return true;
  return CONNECTION_LOST.test(err.message);
}

/** What untilAnswered needs of a worker (or of anything else that writes for one). */
export interface OutageOwner {
  readonly logger: Logger;
  readonly connection: Redis;
  /** Cold shutdown: stop waiting, what is not written is recovered by maintenance. */
  readonly coldShutdown: boolean;
}

interface Outage {
  /** Date.now() when the current outage began (the first refused attempt), or null when Redis answers. */
  since: number | null;
  /** Attempts refused during the current outage (all writers together). */
  refused: number;
  /** Waits to end early: the connection is ready again. */
  wakers: Set<() => void>;
}

const outages = new WeakMap<OutageOwner, Outage>();

function outageOf(owner: OutageOwner): Outage {
  let o = outages.get(owner);
  if (!o) {
    const outage: Outage = { since: null, refused: 0, wakers: new Set() };
    // A reconnect wakes every wait at once: the next attempt goes out now, not after the backoff.
    owner.connection.on?.('ready', () => wake(outage));
    outages.set(owner, outage);
    o = outage;
  }
  return o;
}

function wake(o: Outage): void {
  const wakers = [...o.wakers];
  o.wakers.clear();
  for (const w of wakers) w();
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).replace(/\. You can only call .*$/, '').replace(/\. script: .*$/, '');
}

/** Notes a refused attempt: logs the start of an outage (once, not per attempt). */
export function noteRefused(owner: OutageOwner, what: string, err: unknown): void {
  const o = outageOf(owner);
  o.refused++;
  if (o.since !== null) return;
  o.since = Date.now();
  owner.logger.warning(`Redis cannot answer (${message(err)}): waiting to ${what} (and whatever else comes meanwhile), retrying every ${MAX_RETRY_MS / 1000} s at most`);
}

/** Notes an answer: logs the end of an outage, if one was going on. */
export function noteAnswered(owner: OutageOwner): void {
  const o = outages.get(owner);
  if (!o || o.since === null) return;
  const seconds = ((Date.now() - o.since) / 1000).toFixed(1);
  owner.logger.info(`Redis answers again after ${seconds} s (${o.refused} attempt${o.refused === 1 ? '' : 's'} refused meanwhile)`);
  o.since = null;
  o.refused = 0;
}

/** Date.now() when the current outage began, or null when Redis answers (for the shutdown watch). */
export function outageSince(owner: OutageOwner): number | null {
  return outages.get(owner)?.since ?? null;
}

/**
 * Waits `ms`, or less: until the connection becomes ready again (a reconnect), or `signal` aborts.
 * Resolves true when woken by a reconnect, so that a caller's own backoff starts again from the shortest.
 */
export function pause(owner: OutageOwner, ms: number, signal?: AbortSignal): Promise<boolean> {
  const o = outageOf(owner);
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (reconnected: boolean): void => {
      clearTimeout(timer);
      o.wakers.delete(onReady);
      signal?.removeEventListener('abort', onAbort);
      resolve(reconnected);
    };
    const onReady = (): void => done(true);
    const onAbort = (): void => done(false);
    const timer = setTimeout(() => done(false), ms);
    o.wakers.add(onReady);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The next wait after `ms` (50 ms doubling to 2 s). */
export function nextDelay(ms: number): number {
  return Math.min(ms * 2, MAX_RETRY_MS);
}

/**
 * Runs a Redis call until Redis answers it (`what`: a verb phrase for the log, 'record the result of job x'): a refusal that means "not now" (isTransient) is retried
 * with a backoff capped at 2 s (and at once after a reconnect), logging one line when the outage
 * begins and one when it ends, not one per attempt. A permanent error is thrown at once, for the
 * caller to record once; so is the last refusal when a cold shutdown is asked for (maintenance
 * recovers what is not written, as after a SIGKILL). `call` must be safe to send again: it ran
 * nothing (an error reply) or carries a replay token (a reply lost with the connection).
 */
export async function untilAnswered<T>(owner: OutageOwner, what: string, call: () => Promise<T>): Promise<T> {
  let delay = FIRST_RETRY_MS;
  for (;;) {
    try {
      const reply = await call();
      noteAnswered(owner);
      return reply;
    } catch (err) {
      if (!isTransient(err) || owner.coldShutdown) throw err;
      noteRefused(owner, what, err);
      delay = (await pause(owner, delay)) ? FIRST_RETRY_MS : nextDelay(delay);
    }
  }
}
