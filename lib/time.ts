/**
 * rq's timestamp format: `%Y-%m-%dT%H:%M:%S.%fZ`, naive UTC with microseconds.
 * JavaScript has milliseconds, so the last three digits are always 0.
 */
export function utcformat(d: Date): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
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

/** Python's `str(datetime.now())`: local time, `YYYY-MM-DD HH:MM:SS.ffffff` (rq's exc_info and `rq info` use it). */
export function pythonLocalNow(d: Date = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
}
