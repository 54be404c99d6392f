import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from './commander.js';
import type { Redis, RedisOptions } from 'ioredis';
import { configFromEnv, loadConfig, type RqConfig } from '../config.js';
import { ConfigError } from '../errors/ConfigError.js';
import { UsageError } from '../errors/UsageError.js';
import { assertReachable, connect, type ConnectionSettings } from '../redis/connection.js';
import { resolveDotted, type ResolveOptions } from '../resolve.js';
import type { Serializer } from '../serializers.js';

/** Options every rq command takes (rq's shared click options). */
export interface SharedFlags {
  url?: string;
  cluster?: string;
  config?: string;
  workerClass?: string;
  jobClass?: string;
  queueClass?: string;
  connectionClass?: string;
  path: string[];
  serializer?: string;
  verbose?: boolean;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A parser for whole numbers >= min, naming the flag in its error. */
export function intArg(min: number, allowed = `a whole number >= ${min}`) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(`expected ${allowed}`);
    }
    return n;
  };
}

export function addSharedOptions(cmd: Command): Command {
  return cmd
    .option('-u, --url <url>', 'Redis URL (redis://[user:password@]host:port/db, rediss://, unix://) [env: RQ_REDIS_URL]')
    .option('--cluster <nodes>', 'Redis Cluster seed nodes, host:port,host:port,... (key prefix {rq}: unless REDIS_PREFIX is set) [env: RQ_REDIS_CLUSTER]')
    .option('-c, --config <module>', 'Module (dotted path) or file holding the settings [env: RQ_CONFIG]')
    .option('-w, --worker-class <path>', 'Dotted path of the worker class (default: rq.Worker) [env: RQ_WORKER_CLASS]')
    .option('-j, --job-class <path>', 'Dotted path of the job class (default: rq.job.Job) [env: RQ_JOB_CLASS]')
    .option('--queue-class <path>', 'Dotted path of the queue class (default: rq.Queue) [env: RQ_QUEUE_CLASS]')
    .option('--connection-class <path>', "Dotted path of the Redis client class (default: ioredis' Redis) [env: RQ_CONNECTION_CLASS]")
    .option('-P, --path <dir>', 'Folder searched for modules, repeatable (default: .)', collect, [])
    .addOption(new Option('-S, --serializer <path>', 'Dotted path of the serializer (default: rq.serializers.JSONSerializer) [env: RQ_SERIALIZER]'));
}

/** Where settings came from after precedence (flag > config file > environment > default). */
export interface Settings {
  config: RqConfig;
  configFile: string | null;
  /** Which source the connection settings were taken from, for the worker's first log line. */
  connectionSource: string;
  paths: string[];
  resolve: ResolveOptions;
}

/**
 * The settings that say where Redis is. They are taken as one group from the highest source that sets
 * any of them: a REDIS_URL in the environment (which many hosting platforms set) must not override a
 * settings file's REDIS_HOST/REDIS_PORT or SENTINEL and connect somewhere else without a word.
 */
const CONNECTION_KEYS = [
  'REDIS_URL',
  'REDIS_HOST',
  'REDIS_PORT',
  'REDIS_DB',
  'REDIS_USERNAME',
  'REDIS_PASSWORD',
  'REDIS_SSL',
  'REDIS_SSL_CA_CERTS',
  'REDIS_SSL_CERTFILE',
  'REDIS_SSL_KEYFILE',
  'SENTINEL',
  'REDIS_CLUSTER',
] as const satisfies readonly (keyof RqConfig)[];

function connectionGroup(c: RqConfig): Partial<RqConfig> {
  const group: Record<string, unknown> = {};
  for (const key of CONNECTION_KEYS) if (c[key] !== undefined) group[key] = c[key];
  return group as Partial<RqConfig>;
}

/** Loads the config file and merges it over the environment; flags are merged by each command. */
export async function loadSettings(flags: SharedFlags, warn: (line: string) => void): Promise<Settings> {
  const env = configFromEnv();
  const configPath = flags.config ?? process.env.RQ_CONFIG;
  const cwd = process.cwd();
  const flagPaths = flags.path.length > 0 ? flags.path : [];
  const loaded = await loadConfig({ ...(configPath ? { configPath } : {}), cwd, paths: flagPaths.length > 0 ? flagPaths : ['.'] });
  for (const w of loaded.warnings) warn(w);
  const config: RqConfig = { ...env, ...loaded.config };
  for (const key of CONNECTION_KEYS) delete config[key];
  const fromFile = connectionGroup(loaded.config);
  const fromEnv = connectionGroup(env);
  let connectionSource: string;
  if (flags.url && flags.cluster) {
    throw new UsageError('--url and --cluster both say where Redis is; give one');
  } else if (flags.url) {
    config.REDIS_URL = flags.url;
    connectionSource = 'the --url flag';
  } else if (flags.cluster) {
    config.REDIS_CLUSTER = flags.cluster.split(',').map((s) => s.trim()).filter(Boolean);
    connectionSource = 'the --cluster flag';
  } else if (Object.keys(fromFile).length > 0) {
    Object.assign(config, fromFile);
    connectionSource = `${Object.keys(fromFile).join(', ')} in ${loaded.file ?? 'the config'}`;
  } else if (Object.keys(fromEnv).length > 0) {
    Object.assign(config, fromEnv);
    connectionSource = `the environment (${Object.keys(fromEnv).join(', ')})`;
  } else {
    connectionSource = 'the default';
  }
  const paths = flagPaths.length > 0 ? flagPaths : (config.PATHS ?? ['.']);
  const fromFlag: Partial<RqConfig> = {};
  if (flags.workerClass) fromFlag.WORKER_CLASS = flags.workerClass;
  if (flags.jobClass) fromFlag.JOB_CLASS = flags.jobClass;
  if (flags.queueClass) fromFlag.QUEUE_CLASS = flags.queueClass;
  if (flags.connectionClass) fromFlag.CONNECTION_CLASS = flags.connectionClass;
  if (flags.serializer) fromFlag.SERIALIZER = flags.serializer;
  return { config: { ...config, ...fromFlag }, configFile: loaded.file, connectionSource, paths, resolve: { paths, cwd } };
}

const TRUTHY = (v: unknown): boolean => v === true || (typeof v === 'string' && ['y', 'yes', 't', 'true', '1'].includes(v.toLowerCase()));

/** rq's connection rules: REDIS_URL, else SENTINEL, else REDIS_HOST/PORT/DB/PASSWORD (+ SSL); rq-ts's REDIS_CLUSTER stands alone. */
export async function connectionFromSettings(settings: Settings, extra: RedisOptions = {}): Promise<Redis> {
  const c = settings.config;
  let connectionClass: ConnectionSettings['connectionClass'];
  if (c.CONNECTION_CLASS) {
    connectionClass = (await resolveDotted(c.CONNECTION_CLASS, settings.resolve, 'class', '--connection-class')) as ConnectionSettings['connectionClass'];
  }
  const base: ConnectionSettings = { redisOptions: extra };
  if (connectionClass) base.connectionClass = connectionClass;
  if (c.REDIS_PREFIX !== undefined) base.prefix = c.REDIS_PREFIX;
  const tls = TRUTHY(c.REDIS_SSL) ? tlsOptions(c) : undefined;
  if (c.REDIS_CLUSTER) {
    const other = (['REDIS_URL', 'SENTINEL', 'REDIS_HOST', 'REDIS_PORT'] as const).filter((k) => c[k] !== undefined);
    if (other.length > 0) throw new ConfigError(`REDIS_CLUSTER and ${other.join(', ')} both say where Redis is; keep one (a cluster is found from its seed nodes)`);
    if (c.REDIS_DB) throw new ConfigError(`REDIS_DB = ${c.REDIS_DB}: a Redis Cluster has only database 0`);
    const s: ConnectionSettings = { ...base, cluster: c.REDIS_CLUSTER.map(parseNode) };
    if (c.REDIS_PASSWORD) s.password = c.REDIS_PASSWORD;
    if (c.REDIS_USERNAME) s.username = c.REDIS_USERNAME;
    if (tls) s.tls = tls;
    return connect(s);
  }
  if (c.REDIS_URL) {
    const s: ConnectionSettings = { ...base, url: c.REDIS_URL };
    if (tls) s.tls = tls;
    return connect(s);
  }
  if (c.SENTINEL) {
    const sentinel = c.SENTINEL;
    const instances = sentinel.INSTANCES ?? [['localhost', 26379]];
    const redisOptions: RedisOptions = {
      ...extra,
      sentinels: instances.map(([host, port]) => ({ host, port })),
      name: sentinel.MASTER_NAME ?? 'mymaster',
      db: sentinel.DB ?? 0,
    };
    if (sentinel.PASSWORD) redisOptions.password = sentinel.PASSWORD;
    if (sentinel.USERNAME) redisOptions.username = sentinel.USERNAME;
    if (sentinel.SOCKET_TIMEOUT) redisOptions.connectTimeout = sentinel.SOCKET_TIMEOUT * 1000;
    if (sentinel.SSL) redisOptions.tls = {};
    return connect({ ...base, redisOptions });
  }
  const s: ConnectionSettings = { ...base, host: c.REDIS_HOST ?? 'localhost', port: c.REDIS_PORT ?? 6379, db: c.REDIS_DB ?? 0 };
  if (c.REDIS_PASSWORD) s.password = c.REDIS_PASSWORD;
  if (c.REDIS_USERNAME) s.username = c.REDIS_USERNAME;
  if (tls) s.tls = tls;
  return connect(s);
}

/** `host:port` (or `[v6]:port`) of a cluster seed node. */
function parseNode(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new ConfigError(`Redis Cluster seed node ${JSON.stringify(text)}: expected host:port (e.g. 10.0.0.5:7000), comma-separated for several`);
  }
  return { host: m[1]!, port };
}

function tlsOptions(c: RqConfig): NonNullable<ConnectionSettings['tls']> {
  const read = (file: string, key: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (cause) {
      throw new ConfigError(`${key} = ${JSON.stringify(file)} cannot be read: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    }
  };
  const tls: Exclude<NonNullable<ConnectionSettings['tls']>, boolean> = {};
  if (c.REDIS_SSL_CA_CERTS) tls.ca = read(c.REDIS_SSL_CA_CERTS, 'REDIS_SSL_CA_CERTS');
  if (c.REDIS_SSL_CERTFILE) tls.cert = read(c.REDIS_SSL_CERTFILE, 'REDIS_SSL_CERTFILE');
  if (c.REDIS_SSL_KEYFILE) tls.key = read(c.REDIS_SSL_KEYFILE, 'REDIS_SSL_KEYFILE');
  return tls;
}

/** Connects and checks Redis answers; a failure here is rq's exit code 1. */
export async function connectChecked(settings: Settings, extra: RedisOptions = {}): Promise<Redis> {
  // The CLI keeps ioredis' patient connect timeout (the library's fail-fast default is for producers);
  // reachability is checked below, and a worker must ride through Redis restarts.
  const connection = await connectionFromSettings(settings, { maxRetriesPerRequest: null, connectTimeout: 10_000, ...extra });
  // Until the first answer, errors are reported by assertReachable, not printed by ioredis.
  const quiet = (): void => {};
  connection.on('error', quiet);
  try {
    await assertReachable(connection, 5000);
  } catch (err) {
    connection.disconnect();
    throw err;
  }
  return connection;
}

export async function resolveSerializer(settings: Settings): Promise<Serializer | undefined> {
  const path = settings.config.SERIALIZER;
  if (!path) return undefined;
  if (/^rq\.serializers\.(DefaultSerializer|pickle)$|^pickle$/i.test(path)) {
    throw new UsageError(`--serializer ${path}: pickle cannot be read outside Python; use rq.serializers.JSONSerializer (and -S rq.serializers.JSONSerializer on Python workers)`);
  }
  const value = await resolveDotted(path === 'json' ? 'rq.serializers.JSONSerializer' : path, settings.resolve, 'any', '--serializer');
  const s = value as Partial<Serializer> | null;
  if (!s || typeof s.dumps !== 'function' || typeof s.loads !== 'function') {
    throw new UsageError(`--serializer ${path}: expected an object or class with dumps() and loads()`);
  }
  return s as Serializer;
}
