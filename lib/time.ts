import type { Redis } from 'ioredis';
/**
 * rq's timestamp format: `%Y-%m-%dT%H:%M:%S.%fZ`, naive UTC with microseconds.
 * JavaScript has milliseconds, so the last three digits are always 0.
 */
export function utcformat(d: Date): string {
  const year = d.getUTCFullYear();
  // Built by hand: a worker formats several per job, and toISOString takes 2-3x as long. Years it would
  // write with a sign (before 0, after 9999) go through it.
  if (year < 0 || year > 9999) return `${d.toISOString().slice(0, -1)}000Z`;
  return `${pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(d.getUTCMilliseconds(), 3)}000Z`;
}

function pad(n: number, width: number): string {
  const s = String(n);
  return s.length >= width ? s : '0'.repeat(width - s.length) + s;
}

const RQ_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/;

/** Parses what rq writes (fraction of 1-6 digits, or none); returns null for '' or anything else. */
export function utcparse(s: string | null | undefined): Date | null {
  if (!s) return null;
  const m = RQ_TIMESTAMP.exec(s);
  if (!m) return null;
  const ms = m[7] ? Math.floor(Number(m[7].padEnd(6, '0')) / 1000) : 0;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  return Number.isNaN(t) ? null : new Date(t);
}

/** Registry scores: whole epoch seconds, as rq's `calendar.timegm(utcnow().utctimetuple())`. */
export function epochSeconds(d: Date = new Date()): number {
  return Math.floor(d.getTime() / 1000);
}

/**
 * Redis's clock in whole epoch seconds, as registry scores are: registry sweeps compare scores with
 * it, not with this process's clock, so a worker whose clock is wrong by minutes neither fails another
 * worker's live job nor drops a finished one early (the scripts write the scores from it too).
 */
export async function redisEpochSeconds(connection: Redis): Promise<number> {
  const [seconds] = await connection.time();
  return Number(seconds);
}

/** Python's `str(datetime.now())`: local time, `YYYY-MM-DD HH:MM:SS.ffffff` (rq's exc_info and `rq info` use it). */
export function pythonLocalNow(d: Date = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
}
