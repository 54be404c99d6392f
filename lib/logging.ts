/**
 * Log lines in Python logging's format (`--log-format '%(asctime)s %(message)s'`,
 * `--date-format '%H:%M:%S'`), so a Node worker's output reads like rq's.
 */
export const LOG_LEVELS = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40, CRITICAL: 50 } as const;
export type LogLevel = keyof typeof LOG_LEVELS;

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warning(message: string): void;
  error(message: string): void;
  /** Whether a line at `level` would be written (lets callers skip building it); absent = yes. */
  isEnabledFor?(level: LogLevel): boolean;
  /** Writes out lines kept back (the worker calls it before each job runs); absent = nothing kept back. */
  flush?(): void;
  /** How createLogger built it, when it writes to stderr: what a horse needs to log the same way. */
  readonly settings?: LoggerSettings;
}

export interface LoggerSettings {
  format: string;
  dateFormat: string;
  level: LogLevel;
  name: string;
}

export interface LoggerOptions {
  format?: string;
  dateFormat?: string;
  level?: LogLevel;
  /** `%(name)s`; rq's logger is `rq.worker`. */
  name?: string;
  stream?: { write(chunk: string): unknown };
}

export const DEFAULT_LOG_FORMAT = '%(asctime)s %(message)s';
export const DEFAULT_DATE_FORMAT = '%H:%M:%S';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** C strftime directives of Python's time.strftime, in local time. */
export function strftime(format: string, d: Date): string {
  return format.replace(/%([a-zA-Z%])/g, (whole, c: string) => {
    switch (c) {
      case 'Y': return String(d.getFullYear());
      case 'y': return pad(d.getFullYear() % 100);
      case 'm': return pad(d.getMonth() + 1);
      case 'd': return pad(d.getDate());
      case 'H': return pad(d.getHours());
      case 'I': return pad(d.getHours() % 12 || 12);
      case 'M': return pad(d.getMinutes());
      case 'S': return pad(d.getSeconds());
      case 'f': return pad(d.getMilliseconds() * 1000, 6);
      case 'p': return d.getHours() < 12 ? 'AM' : 'PM';
      case 'a': return DAYS[d.getDay()]!.slice(0, 3);
      case 'A': return DAYS[d.getDay()]!;
      case 'b': return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'B': return MONTHS[d.getMonth()]!;
      case 'j': {
        const start = new Date(d.getFullYear(), 0, 1);
        return pad(Math.floor((d.getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      case 'z': {
        const off = -d.getTimezoneOffset();
        return `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}${pad(Math.abs(off) % 60)}`;
      }
      case 'Z': return Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName')?.value ?? '';
      case '%': return '%';
      default: return whole;
    }
  });
}

const FIELD = /%\((\w+)\)(-?\d*)([sdf])/g;

interface LogRecord {
  level: LogLevel;
  message: string;
  name: string;
  time: Date;
}

/**
 * formatRecord for one format and date format, parsed once: a logger formats every line with it (a
 * busy worker logs three lines per job). The date is formatted once per second unless the date
 * format shows finer (%f): local time, its day and its zone all change on second boundaries.
 */
export function recordFormatter(format: string, dateFormat: string): (record: LogRecord) => string {
  let asctimeSecond = Number.NaN;
  let asctimeText = '';
  const perSecond = !dateFormat.includes('%f');
  const asctime = (time: Date): string => {
    if (!perSecond) return strftime(dateFormat, time);
    const second = Math.floor(time.getTime() / 1000);
    if (second !== asctimeSecond) {
      asctimeSecond = second;
      asctimeText = strftime(dateFormat, time);
    }
    return asctimeText;
  };
  const field = (name: string): ((r: LogRecord) => string) => {
    switch (name) {
      case 'asctime': return (r) => asctime(r.time);
      case 'message': return (r) => r.message;
      case 'levelname': return (r) => r.level;
      case 'levelno': return (r) => String(LOG_LEVELS[r.level]);
      case 'name': return (r) => r.name;
      case 'process': return () => String(process.pid);
      case 'processName': return () => 'MainProcess';
      case 'created': return (r) => String(r.time.getTime() / 1000);
      case 'msecs': return (r) => String(r.time.getMilliseconds());
      default: return () => `%(${name})`;
    }
  };
  // The format as text between fields, and a function per field (with its width, if any).
  const texts: string[] = [];
  const fields: ((r: LogRecord) => string)[] = [];
  let last = 0;
  for (const m of format.matchAll(FIELD)) {
    texts.push(format.slice(last, m.index));
    const read = field(m[1]!);
    const w = m[2] ? Number(m[2]) : 0;
    fields.push(w === 0 ? read : w < 0 ? (r) => read(r).padEnd(-w) : (r) => read(r).padStart(w));
    last = m.index + m[0].length;
  }
  const tail = format.slice(last);
  return (record) => {
    let line = '';
    for (let i = 0; i < fields.length; i++) line += texts[i]! + fields[i]!(record);
    return line + tail;
  };
}

/** A formatter for Python's `%(field)s` log records (asctime, message, levelname, levelno, name, process, ...). */
export function formatRecord(format: string, dateFormat: string, record: LogRecord): string {
  return recordFormatter(format, dateFormat)(record);
}

/** Loggers holding lines back, written out at exit (one listener for all of them). */
const unflushed = new Set<() => void>();
process.once('exit', () => {
  for (const flush of unflushed) flush();
});

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? DEFAULT_LOG_FORMAT;
  const dateFormat = options.dateFormat ?? DEFAULT_DATE_FORMAT;
  const threshold = LOG_LEVELS[options.level ?? 'INFO'];
  const name = options.name ?? 'rq.worker';
  const stream = options.stream ?? process.stderr;
  // Lines logged in one turn of the event loop go out in one write (a busy worker logs three per job,
  // and each write is a system call). They are written at the end of the turn, before a job runs
  // (flush), and at exit; stderr is synchronous on Linux, so nothing waits in Node's buffers.
  const formatLine = recordFormatter(format, dateFormat);
  let pending = '';
  const flush = (): void => {
    unflushed.delete(flush);
    if (pending === '') return;
    const chunk = pending;
    pending = '';
    stream.write(chunk);
  };
  const log = (level: LogLevel) => (message: string) => {
    if (LOG_LEVELS[level] < threshold) return;
    pending += `${formatLine({ level, message, name, time: new Date() })}\n`;
    if (!unflushed.has(flush)) {
      unflushed.add(flush);
      setImmediate(flush);
    }
  };
  return {
    // Only a logger writing to stderr can be rebuilt in another process (a horse that takes its own jobs).
    ...(stream === process.stderr ? { settings: { format, dateFormat, level: options.level ?? 'INFO', name } } : {}),
    debug: log('DEBUG'),
    info: log('INFO'),
    warning: log('WARNING'),
    error: log('ERROR'),
    isEnabledFor: (level) => LOG_LEVELS[level] >= threshold,
    flush,
  };
}
