import { existsSync } from 'node:fs';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import type * as Cosmiconfig from 'cosmiconfig';
import type { Loader } from 'cosmiconfig';
import { requireCjs } from './cjs.js';
import { ConfigError } from './errors/ConfigError.js';
import { importFile, importModule, type ResolveOptions } from './resolve.js';

/** A plugin or exception handler in a config file: a dotted path, or the thing itself. */
type Named<T> = string | T;

/**
 * rq's settings (the seed's upper-case keys) and rq-ts's own in the same style. Every key is
 * optional; the CLI flag of the same meaning wins over it, and it wins over the environment.
 */
export interface RqConfig {
  REDIS_URL?: string;
  REDIS_HOST?: string;
  REDIS_PORT?: number;
  REDIS_DB?: number;
  REDIS_USERNAME?: string;
  REDIS_PASSWORD?: string;
  /** TLS to Redis: true (or 'y', 'yes', 't', 'true' as rq accepts). */
  REDIS_SSL?: boolean | string;
  REDIS_SSL_CA_CERTS?: string;
  REDIS_SSL_CERTFILE?: string;
  REDIS_SSL_KEYFILE?: string;
  /** Key prefix (default `rq:`); `{rq}:` keeps a deployment in one Redis Cluster slot. */
  REDIS_PREFIX?: string;
  /**
   * Redis Cluster seed nodes, `['host:port', ...]` (or `host:port,host:port` in the environment):
   * any of the cluster's nodes. The key prefix defaults to `{rq}:` with it. rq-ts only.
   */
  REDIS_CLUSTER?: string[];
  /** rq's Sentinel settings: `{ INSTANCES: [['host', 26379]], MASTER_NAME, PASSWORD, DB, SOCKET_TIMEOUT, SSL }`. */
  SENTINEL?: SentinelConfig;
  QUEUES?: string[];
  NAME?: string;
  SENTRY_DSN?: string;
  SENTRY_CA_CERTS?: string;
  SENTRY_DEBUG?: boolean;
  PLUGINS?: Named<{ apply(worker: never): void }>[];
  WORKER_CLASS?: string;
  JOB_CLASS?: string;
  QUEUE_CLASS?: string;
  CONNECTION_CLASS?: string;
  DEATH_PENALTY_CLASS?: string;
  EXCEPTION_HANDLERS?: Named<(...args: never[]) => unknown>[];
  DISABLE_DEFAULT_EXCEPTION_HANDLER?: boolean;
  SERIALIZER?: string;
  RESULTS_TTL?: number;
  WORKER_TTL?: number;
  JOB_MONITORING_INTERVAL?: number;
  MAINTENANCE_INTERVAL?: number;
  /** The python-rq wire protocol claims write: 1 (default), 2 or 'auto' (docs/python-interop.md). */
  PROTOCOL?: 1 | 2 | 'auto';
  SHUTDOWN_TIMEOUT?: number;
  MAX_JOBS?: number;
  /** Jobs run at once, like `--concurrency` (async jobs; docs/workers.md "Concurrency"). */
  CONCURRENCY?: number;
  /** Successes recorded per call, like `--batch` (1: off; docs/reliability.md "Group commit"). */
  BATCH?: number;
  LOG_FORMAT?: string;
  DATE_FORMAT?: string;
  LOGGING_LEVEL?: string;
  DISABLE_JOB_DESC_LOGGING?: boolean;
  /** Import paths for job modules, like repeated `--path`. */
  PATHS?: string[];
  /** Module prefixes job functions may come from (default: anything under PATHS, no installed package). */
  JOB_MODULES?: string[];
  /** Modules the work horse imports before its first job. */
  PRELOAD?: string[];
  HORSE_MAX_JOBS?: number;
  HORSE_MAX_MEMORY_MB?: number;
  /** The horse takes its own jobs (default: when it can; false: never; true: fail at start when it cannot). */
  HORSE_LOOP?: boolean;
}

export interface SentinelConfig {
  INSTANCES?: [string, number][];
  MASTER_NAME?: string;
  PASSWORD?: string;
  USERNAME?: string;
  DB?: number;
  SOCKET_TIMEOUT?: number;
  SSL?: boolean;
}

/** Identity function: gives `rq.config.ts` its types. */
export function defineConfig(config: RqConfig): RqConfig {
  return config;
}

type KeyKind = 'string' | 'number' | 'int' | 'boolean' | 'string[]' | 'list' | 'object' | 'protocol';

/** Every key, with its kind (for validation and for reading it from the environment). */
export const CONFIG_KEYS: Record<keyof RqConfig, KeyKind> = {
  REDIS_URL: 'string',
  REDIS_HOST: 'string',
  REDIS_PORT: 'int',
  REDIS_DB: 'int',
  REDIS_USERNAME: 'string',
  REDIS_PASSWORD: 'string',
  REDIS_SSL: 'boolean',
  REDIS_SSL_CA_CERTS: 'string',
  REDIS_SSL_CERTFILE: 'string',
  REDIS_SSL_KEYFILE: 'string',
  REDIS_PREFIX: 'string',
  REDIS_CLUSTER: 'string[]',
  SENTINEL: 'object',
  QUEUES: 'string[]',
  NAME: 'string',
  SENTRY_DSN: 'string',
  SENTRY_CA_CERTS: 'string',
  SENTRY_DEBUG: 'boolean',
  PLUGINS: 'list',
  WORKER_CLASS: 'string',
  JOB_CLASS: 'string',
  QUEUE_CLASS: 'string',
  CONNECTION_CLASS: 'string',
  DEATH_PENALTY_CLASS: 'string',
  EXCEPTION_HANDLERS: 'list',
  DISABLE_DEFAULT_EXCEPTION_HANDLER: 'boolean',
  SERIALIZER: 'string',
  RESULTS_TTL: 'int',
  WORKER_TTL: 'int',
  JOB_MONITORING_INTERVAL: 'int',
  MAINTENANCE_INTERVAL: 'int',
  PROTOCOL: 'protocol',
  SHUTDOWN_TIMEOUT: 'int',
  MAX_JOBS: 'int',
  CONCURRENCY: 'int',
  BATCH: 'int',
  LOG_FORMAT: 'string',
  DATE_FORMAT: 'string',
  LOGGING_LEVEL: 'string',
  DISABLE_JOB_DESC_LOGGING: 'boolean',
  PATHS: 'string[]',
  PRELOAD: 'string[]',
  JOB_MODULES: 'string[]',
  HORSE_MAX_JOBS: 'int',
  HORSE_MAX_MEMORY_MB: 'number',
  HORSE_LOOP: 'boolean',
};

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

export function didYouMean(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(key.toUpperCase(), k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(key.length / 3)) ? best : null;
}

const TRUE = new Set(['1', 'y', 'yes', 't', 'true', 'on']);
const FALSE = new Set(['0', 'n', 'no', 'f', 'false', 'off', '']);

/** RQ_PROTOCOL's value from a config file, the environment or `--protocol`: 1, 2, 'auto', or null when it is none of them. */
export function parseProtocol(value: unknown): 1 | 2 | 'auto' | null {
  if (value === 1 || value === '1') return 1;
  if (value === 2 || value === '2') return 2;
  if (value === 'auto') return 'auto';
  return null;
}

/** A config value checked (and, from strings, converted) against its key's kind. */
export function coerce(key: keyof RqConfig, value: unknown, where: string): unknown {
  const kind = CONFIG_KEYS[key];
  const bad = (allowed: string): never => {
    throw new ConfigError(`${where}: ${key} = ${JSON.stringify(value)} is not valid; expected ${allowed}`);
  };
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? value : bad('a string');
    case 'int':
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n) || (kind === 'int' && !Number.isInteger(n))) {
        return bad(kind === 'int' ? 'a whole number' : 'a number');
      }
      return n;
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && TRUE.has(value.toLowerCase())) return true;
      if (typeof value === 'string' && FALSE.has(value.toLowerCase())) return false;
      return bad('true or false (or y/yes/t/true, n/no/f/false)');
    case 'string[]':
      if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : bad('a list of strings');
    case 'list':
      if (typeof value === 'string') return value.split(',').map((s) => s.trim()).filter(Boolean);
      return Array.isArray(value) ? value : bad('a list');
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? value : bad('an object');
    case 'protocol':
      return parseProtocol(value) ?? bad("1, 2 or 'auto'");
  }
}

export interface LoadedConfig {
  config: RqConfig;
  /** The file it came from, or null when none was found. */
  file: string | null;
  /** Unknown keys, each with a suggestion (the caller warns). */
  warnings: string[];
}

/** Checks every key of a raw config object; unknown keys become warnings with a suggestion. */
export function validateConfig(raw: Record<string, unknown>, where: string): LoadedConfig {
  const config: Record<string, unknown> = {};
  const warnings: string[] = [];
  const known = Object.keys(CONFIG_KEYS);
  for (const [key, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (!(key in CONFIG_KEYS)) {
      const upper = key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
      if (upper !== key && upper in CONFIG_KEYS) {
        throw new ConfigError(`${where}: config key ${key} is not read: the keys are upper-case, as rq's settings; write ${upper}`);
      }
      // Lower-case names in a settings module are helpers of its own, as in Python's.
      if (key !== key.toUpperCase() || key === 'DEFAULT') continue;
      const hint = didYouMean(key, known);
      warnings.push(`${where}: unknown config key ${key}${hint ? ` (did you mean ${hint}?)` : ''}; it is ignored`);
      continue;
    }
    config[key] = coerce(key as keyof RqConfig, value, where);
  }
  return { config: config as RqConfig, file: where, warnings };
}

/** The settings a module exports: its default export (an object), plus its upper-case named exports. */
function settingsOf(mod: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const def = mod.default;
  if (def && typeof def === 'object' && !Array.isArray(def)) Object.assign(out, def);
  for (const [k, v] of Object.entries(mod)) {
    if (k !== 'default' && k === k.toUpperCase()) out[k] = v;
  }
  return out;
}

const jitiLoader: Loader = async (filepath) => settingsOf(await importFile(filepath));

/**
 * Loads the config: `configPath` (rq's `-c`: a dotted module path like `settings` or `app.settings`,
 * or a file path) when given, else the first of rq.config.ts, .rqrc*, package.json#rq found from
 * `cwd` upward to the project root. Throws ConfigError naming the file when it cannot be loaded.
 */
export async function loadConfig(options: { configPath?: string; cwd?: string; paths?: readonly string[] } = {}): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  if (options.configPath) {
    const spec = options.configPath;
    const where: ResolveOptions = { cwd, paths: options.paths ?? [] };
    let mod: Record<string, unknown>;
    try {
      const asFile = isAbsolute(spec) ? spec : resolvePath(cwd, spec);
      mod = existsSync(asFile) && /\.[cm]?[jt]s$|\.json$/.test(spec) ? await importFile(asFile) : await importModule(spec, where);
    } catch (cause) {
      // One line: parsers put the position on a line of its own.
      const detail = (cause instanceof Error ? cause.message : String(cause)).replace(/\s*\n\s*/g, ' ');
      throw new ConfigError(`Cannot load config "${spec}": ${detail}`, { cause });
    }
    return validateConfig(settingsOf(mod), spec);
  }
  const { cosmiconfig } = requireCjs('cosmiconfig') as typeof Cosmiconfig;
  const explorer = cosmiconfig('rq', {
    searchStrategy: 'project',
    searchPlaces: [
      'package.json',
      '.rqrc',
      '.rqrc.json',
      '.rqrc.yaml',
      '.rqrc.yml',
      '.rqrc.js',
      '.rqrc.ts',
      '.rqrc.mjs',
      '.rqrc.cjs',
      'rq.config.ts',
      'rq.config.mts',
      'rq.config.cts',
      'rq.config.js',
      'rq.config.mjs',
      'rq.config.cjs',
    ],
    loaders: { '.ts': jitiLoader, '.mts': jitiLoader, '.cts': jitiLoader, '.js': jitiLoader, '.mjs': jitiLoader, '.cjs': jitiLoader },
  });
  let found;
  try {
    found = await explorer.search(cwd);
  } catch (cause) {
    const file = (cause as { filepath?: string }).filepath;
    const detail = (cause instanceof Error ? cause.message : String(cause)).replace(/\s*\n\s*/g, ' ');
    throw new ConfigError(`Cannot load config${file ? ` ${file}` : ''}: ${detail}`, { cause });
  }
  if (!found || found.isEmpty) return { config: {}, file: found?.filepath ?? null, warnings: [] };
  const raw = found.config as unknown;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(`${found.filepath}: the config must be an object of settings (REDIS_URL, QUEUES, ...)`);
  }
  return validateConfig(raw as Record<string, unknown>, found.filepath);
}

/** Environment variables read for a key: `RQ_<KEY>`, and for rq's connection keys the plain name too. */
export function envNamesFor(key: keyof RqConfig): string[] {
  return key.startsWith('REDIS_') || key.startsWith('SENTRY_') ? [`RQ_${key}`, key] : [`RQ_${key}`];
}

/** The config keys set in the environment (lowest precedence but for defaults). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): RqConfig {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(CONFIG_KEYS) as (keyof RqConfig)[]) {
    if (CONFIG_KEYS[key] === 'object') continue;
    for (const name of envNamesFor(key)) {
      const v = env[name];
      if (v !== undefined && v !== '') {
        out[key] = coerce(key, v, `environment variable ${name}`);
        break;
      }
    }
  }
  return out as RqConfig;
}
