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

/** A formatter for Python's `%(field)s` log records (asctime, message, levelname, levelno, name, process, ...). */
export function formatRecord(format: string, dateFormat: string, record: { level: LogLevel; message: string; name: string; time: Date }): string {
  return format.replace(FIELD, (_all, field: string, width: string) => {
    let value: string;
    switch (field) {
      case 'asctime': value = strftime(dateFormat, record.time); break;
      case 'message': value = record.message; break;
      case 'levelname': value = record.level; break;
      case 'levelno': value = String(LOG_LEVELS[record.level]); break;
      case 'name': value = record.name; break;
      case 'process': value = String(process.pid); break;
      case 'processName': value = 'MainProcess'; break;
      case 'created': value = String(record.time.getTime() / 1000); break;
      case 'msecs': value = String(record.time.getMilliseconds()); break;
      default: value = `%(${field})`;
    }
    if (!width) return value;
    const w = Number(width);
    return w < 0 ? value.padEnd(-w) : value.padStart(w);
  });
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
    pending += `${formatRecord(format, dateFormat, { level, message, name, time: new Date() })}\n`;
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
