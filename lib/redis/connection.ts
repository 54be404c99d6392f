import type * as IORedis from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { requireCjs } from '../cjs.js';
import { InvalidRedisUrlError } from '../errors/InvalidRedisUrlError.js';
import { RedisConnectionError } from '../errors/RedisConnectionError.js';
import { CLUSTER_PREFIX, DEFAULT_PREFIX, Keys } from './keys.js';

const { Cluster, Redis } = requireCjs('ioredis') as typeof IORedis;
type Cluster = IORedis.Cluster;
type Redis = IORedis.Redis;
/** Where to find Redis: separate fields, as rq's REDIS_HOST / REDIS_PORT / ... settings. */
export interface ConnectionSettings {
  url?: string;
  host?: string;
  port?: number;
  db?: number;
  username?: string;
  password?: string;
  /** `true` for TLS with the system CAs, or node's TLS options (ca, cert, key, ...). */
  tls?: boolean | TlsOptions;
  /** Unix socket path. */
  path?: string;
  /** Key prefix (default `rq:`, `{rq}:` with `cluster`); `{rq}:` keeps a deployment's keys in one Redis Cluster slot. */
  prefix?: string;
  /**
   * Redis Cluster seed nodes (any of the cluster's nodes; the client learns the rest). With it the
   * connection is ioredis' Cluster client and the prefix defaults to `{rq}:`, so that every script's
   * keys hash to one slot. host/port/url/path/db are not used (a cluster has one database).
   */
  cluster?: readonly ClusterNode[];
  /** Class to construct instead of ioredis' `Redis` (e.g. a subclass that adds tracing). */
  connectionClass?: new (options: RedisOptions) => Redis;
  /**
   * Milliseconds one connection attempt may take (default 2000 for connections made here; ioredis'
   * own default is 10000). With `maxRetriesPerRequest` it bounds how long a command waits for an
   * unreachable Redis: about (maxRetriesPerRequest + 1) x connectTimeout.
   */
  connectTimeout?: number;
  /**
   * Reconnection attempts a command waits through before it fails (default 2 for connections made
   * here, so a producer hears of a Redis that is down within seconds; ioredis' own default is 20).
   * `null` waits forever, as the CLI's worker does to ride through Redis restarts.
   */
  maxRetriesPerRequest?: number | null;
  /** Passed through to ioredis as they are (they win over the settings above). */
  redisOptions?: RedisOptions;
}

export interface ClusterNode {
  host: string;
  port: number;
}

/** Library defaults: fail within seconds when Redis is down, instead of ioredis' 20 retries (over a minute). */
export const LIBRARY_CONNECT_TIMEOUT_MS = 2000;
export const LIBRARY_MAX_RETRIES_PER_REQUEST = 2;

/** An ioredis instance (Redis or Cluster), a URL, or settings. */
export type ConnectionInput = Redis | Cluster | string | ConnectionSettings;

/** A URL with its password replaced, fit for logs and error messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^/?#]*)@/i, (_m, scheme: string, auth: string) =>
    auth.includes(':') ? `${scheme}${auth.slice(0, auth.indexOf(':'))}:***@` : `${scheme}***@`,
  );
}

function parseDb(raw: string, url: string): number {
  if (!/^\d+$/.test(raw)) {
    throw new InvalidRedisUrlError(`Invalid Redis URL ${redactUrl(url)}: database "${raw}" is not a non-negative integer`);
  }
  return Number(raw);
}

/** ioredis options from `redis://[user:pass@]host[:port][/db]`, `rediss://...` or `unix:///path[?db=N]`. */
export function redisOptionsFromUrl(url: string): RedisOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // No `cause`: node's URL error keeps the whole input, password included.
    throw new InvalidRedisUrlError(
      `Invalid Redis URL ${JSON.stringify(redactUrl(url))}: expected redis://[user:password@]host[:port][/db], rediss://... or unix:///path/to/socket`,
    );
  }
  const options: RedisOptions = {};
  if (parsed.username) options.username = decodeURIComponent(parsed.username);
  if (parsed.password) options.password = decodeURIComponent(parsed.password);
  const dbParam = parsed.searchParams.get('db');
  switch (parsed.protocol) {
    case 'redis:':
    case 'rediss:': {
      if (!parsed.hostname) throw new InvalidRedisUrlError(`Invalid Redis URL ${redactUrl(url)}: no host`);
      options.host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
      options.port = parsed.port ? Number(parsed.port) : 6379;
      const dbPath = parsed.pathname.replace(/^\//, '');
      if (dbPath) options.db = parseDb(dbPath, url);
      if (parsed.protocol === 'rediss:') options.tls = {};
      break;
    }
    case 'unix:':
      if (!parsed.pathname || parsed.pathname === '/') {
        throw new InvalidRedisUrlError(`Invalid Redis URL ${redactUrl(url)}: no socket path`);
      }
      options.path = decodeURIComponent(parsed.pathname);
      break;
    default:
      throw new InvalidRedisUrlError(
        `Invalid Redis URL ${redactUrl(url)}: scheme "${parsed.protocol}" is not redis://, rediss:// or unix://`,
      );
  }
  if (dbParam !== null) options.db = parseDb(dbParam, url);
  return options;
}

const prefixes = new WeakMap<Redis, Keys>();

/** The key names in use on a connection (default prefix `rq:`, `{rq}:` on a Cluster, unless set with `connect` or `useKeyPrefix`). */
export function keysOf(connection: Redis): Keys {
  let keys = prefixes.get(connection);
  if (!keys) {
    keys = isCluster(connection) ? new Keys(CLUSTER_PREFIX) : DEFAULT_KEYS;
    prefixes.set(connection, keys);
  }
  return keys;
}

const DEFAULT_KEYS = new Keys(DEFAULT_PREFIX);

export function useKeyPrefix(connection: Redis, prefix: string): void {
  prefixes.set(connection, prefix === DEFAULT_PREFIX ? DEFAULT_KEYS : new Keys(prefix));
}

/**
 * An ioredis connection from any accepted input. An existing instance is used as it is
 * (it must not have ioredis' own `keyPrefix`, which would rename rq's keys behind its back).
 */
export function connect(input: ConnectionInput = {}): Redis {
  if (input instanceof Redis || input instanceof Cluster) {
    if (input.options.keyPrefix) {
      throw new InvalidRedisUrlError(
        `The ioredis connection has keyPrefix "${input.options.keyPrefix}"; rq's key names must be exact. Use the rq-ts "prefix" setting instead.`,
      );
    }
    return input as Redis;
  }
  const settings: ConnectionSettings = typeof input === 'string' ? { url: input } : input;
  const options: RedisOptions = { ...(settings.url ? redisOptionsFromUrl(settings.url) : {}) };
  if (settings.host !== undefined) options.host = settings.host;
  if (settings.port !== undefined) options.port = settings.port;
  if (settings.db !== undefined) options.db = settings.db;
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.path !== undefined) options.path = settings.path;
  if (settings.tls) options.tls = settings.tls === true ? {} : settings.tls;
  if (options.port !== undefined && (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535)) {
    throw new InvalidRedisUrlError(`Invalid Redis port ${String(options.port)}: expected an integer from 1 to 65535`);
  }
  if (options.db !== undefined && (!Number.isInteger(options.db) || options.db < 0)) {
    throw new InvalidRedisUrlError(`Invalid Redis database ${String(options.db)}: expected a non-negative integer`);
  }
  options.connectTimeout = settings.connectTimeout ?? LIBRARY_CONNECT_TIMEOUT_MS;
  options.maxRetriesPerRequest = settings.maxRetriesPerRequest === undefined ? LIBRARY_MAX_RETRIES_PER_REQUEST : settings.maxRetriesPerRequest;
  if (settings.cluster) return connectCluster(settings, options);
  const Ctor = settings.connectionClass ?? Redis;
  const merged: RedisOptions = { ...options, ...settings.redisOptions };
  // Through Sentinel, follow a failover when the sentinels announce it (+switch-master), not when
  // the old master stops answering: it goes on taking writes until it is made a replica, and what
  // a worker records there meanwhile is thrown away, so the job runs again.
  if (merged.sentinels && merged.sentinels.length > 0 && merged.failoverDetector === undefined) merged.failoverDetector = true;
  const connection = new Ctor(merged);
  if (settings.prefix !== undefined) useKeyPrefix(connection, settings.prefix);
  reportUnreachable(connection);
  return connection;
}

/**
 * ioredis' Cluster client for `settings.cluster`. It is handed around as a `Redis`: the commands
 * rq-ts sends (keyed commands, scripts with declared KEYS, MULTI and pipelines on one slot) have the
 * same API on both, and the few places that differ (duplicate, options, CLIENT TRACKING, which is
 * per node) ask isCluster() first.
 */
function connectCluster(settings: ConnectionSettings, options: RedisOptions): Redis {
  const nodes = settings.cluster!;
  if (nodes.length === 0) throw new InvalidRedisUrlError('Redis Cluster: no seed nodes given; expected at least one host:port');
  for (const n of nodes) {
    if (!n.host || !Number.isInteger(n.port) || n.port < 1 || n.port > 65535) {
      throw new InvalidRedisUrlError(`Redis Cluster seed node ${JSON.stringify(`${n.host}:${n.port}`)}: expected host:port with a port from 1 to 65535`);
    }
  }
  if (settings.connectionClass) {
    throw new InvalidRedisUrlError('A connection class (--connection-class, CONNECTION_CLASS) cannot be used with Redis Cluster: the connection is ioredis\' Cluster client');
  }
  if (options.db) throw new InvalidRedisUrlError(`Redis Cluster has only database 0; db ${options.db} cannot be used with cluster seed nodes`);
  const { host: _h, port: _p, path: _s, db: _d, ...nodeOptions } = { ...options, ...settings.redisOptions };
  const { lazyConnect, ...redisOptions } = nodeOptions;
  const clusterOptions: ClusterOptions = { redisOptions, ...(lazyConnect ? { lazyConnect } : {}) };
  const connection = new Cluster(nodes.map((n) => ({ host: n.host, port: n.port })), clusterOptions) as unknown as Redis;
  useKeyPrefix(connection, settings.prefix ?? CLUSTER_PREFIX);
  connection.on('error', (err: Error) => lastErrors.set(connection, err));
  connection.on('ready', () => lastErrors.delete(connection));
  if (options.maxRetriesPerRequest !== null && options.maxRetriesPerRequest !== undefined) giveUpOnUnreachableCluster(connection, options.maxRetriesPerRequest);
  return connection;
}

/**
 * A Cluster client that reaches none of its nodes keeps the commands sent meanwhile in its offline
 * queue until it does, without limit (maxRetriesPerRequest bounds only the per-node connections, which
 * it has none of yet): a producer's enqueue would hang. As ioredis does for a single Redis, after every
 * (maxRetriesPerRequest + 1) failed attempts to load the slots from a node, the waiting commands fail,
 * with one RedisConnectionError naming the seed nodes; the client goes on trying for later commands.
 */
function giveUpOnUnreachableCluster(connection: Redis, maxRetriesPerRequest: number): void {
  let failed = 0;
  connection.on('ready', () => {
    failed = 0;
  });
  connection.on('reconnecting', () => {
    failed++;
    if (failed % (maxRetriesPerRequest + 1) !== 0) return;
    const last = lastErrors.get(connection);
    // ioredis' ClusterAllFailedError ("Failed to refresh slots cache.") keeps the last node's error.
    const nodeError = (last as { lastNodeError?: Error } | undefined)?.lastNodeError;
    const timeout = (connection as unknown as Cluster).options.slotsRefreshTimeout ?? 1000;
    const error = new RedisConnectionError(
      `Cannot reach Redis Cluster at ${describeConnection(connection)}: no seed node answered CLUSTER SLOTS${nodeError ? ` (last: ${nodeError.message})` : last ? ` (${last.message})` : ''} ` +
        `(gave up after ${maxRetriesPerRequest + 1} attempts of up to ${timeout} ms; are the cluster's redis-servers running there? ` +
        'connect({ cluster, maxRetriesPerRequest }) sets how many attempts a command waits, null for no limit)',
      { cause: nodeError ?? last },
    );
    (connection as unknown as { flushQueue(error: Error): void }).flushQueue(error);
  });
}

/** Whether `connection` is ioredis' Cluster client. */
export function isCluster(connection: Redis): boolean {
  return (connection as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The seed nodes of a Cluster client (null for any other connection). */
export function clusterNodes(connection: Redis): ClusterNode[] | null {
  if (!isCluster(connection)) return null;
  const seeds = (connection as unknown as { startupNodes: (string | number | { host?: string; port?: number })[] }).startupNodes;
  // ioredis takes a seed as { host, port }, a port number, or a string (`port`, `host:port`, `redis://host:port`).
  return seeds.map((n) => {
    if (typeof n === 'object') return { host: n.host ?? 'localhost', port: n.port ?? 6379 };
    if (typeof n === 'number' || /^\d+$/.test(n)) return { host: 'localhost', port: Number(n) };
    const url = new URL(n.includes('//') ? n : `redis://${n}`);
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: url.port ? Number(url.port) : 6379 };
  });
}

/**
 * Runs `send`, which sends commands on `connection` synchronously, with the connection's socket corked:
 * the commands leave in one write (writev) instead of one write each. On loopback a write is one of the
 * dearest parts of a job for both sides (the sender's kernel delivers the data and wakes Redis; Redis
 * reads and replies once per wake-up), and the outcome script and the hash reads sent behind it are
 * wanted together anyway. A connection without a socket of its own (a Cluster client, one not yet
 * connected: ioredis queues its commands) sends as usual.
 */
export function corked<T>(connection: Redis, send: () => T): T {
  const socket = (connection as unknown as { stream?: { cork?: () => void; uncork(): void; writable?: boolean } }).stream;
  if (connection.status !== 'ready' || !socket?.cork || !socket.writable) return send();
  socket.cork();
  try {
    return send();
  } finally {
    socket.uncork();
  }
}

/** The per-node options of a connection: a Cluster client keeps them in `redisOptions`. */
export function nodeOptions(connection: Redis): RedisOptions {
  return isCluster(connection) ? ((connection as unknown as Cluster).options.redisOptions ?? {}) : connection.options;
}

const lastErrors = new WeakMap<Redis, Error>();

/** The last connection error ioredis reported on a connection made by `connect`, if any. */
export function lastConnectionError(connection: Redis): Error | undefined {
  return lastErrors.get(connection);
}

interface FlushQueue {
  flushQueue(error: Error, options?: unknown): void;
}

/**
 * One error per command, naming the server, instead of ioredis' `[ioredis] Unhandled error event`
 * on every attempt and a MaxRetriesPerRequestError that says neither where nor why. The listener
 * records the last error; ioredis' private flushQueue (which rejects the waiting commands when it
 * gives up on them) is wrapped on this instance to put that error and the address in the message.
 */
function reportUnreachable(connection: Redis): void {
  connection.on('error', (err: Error) => lastErrors.set(connection, err));
  connection.on('ready', () => lastErrors.delete(connection));
  const internal = connection as unknown as FlushQueue;
  if (typeof internal.flushQueue !== 'function') return;
  const flush = internal.flushQueue.bind(connection);
  internal.flushQueue = (error, options) => {
    if (error.name !== 'MaxRetriesPerRequestError') return flush(error, options);
    const last = lastErrors.get(connection);
    const o = connection.options;
    const wrapped = new RedisConnectionError(
      `Cannot reach Redis at ${describeConnection(connection)}${last ? `: ${last.message}` : ''} ` +
        `(gave up after ${(o.maxRetriesPerRequest ?? 0) + 1} attempts of up to ${o.connectTimeout ?? 10000} ms; ` +
        'is redis-server running there? connect({ url, maxRetriesPerRequest, connectTimeout }) sets how long to wait)',
      { cause: last ?? error },
    );
    flush(wrapped, options);
  };
}

/** A second connection to the same server, with the same key prefix (for blocking commands, pub/sub). */
export function duplicateConnection(connection: Redis, overrides: RedisOptions = {}): Redis {
  let copy: Redis;
  if (isCluster(connection)) {
    const { lazyConnect, ...redisOptions } = overrides;
    copy = (connection as unknown as Cluster).duplicate([], { redisOptions, ...(lazyConnect !== undefined ? { lazyConnect } : {}) }) as unknown as Redis;
  } else {
    copy = connection.duplicate(overrides);
  }
  const keys = prefixes.get(connection);
  if (keys) prefixes.set(copy, keys);
  return copy;
}

/** Where a connection points, without credentials: `host:port/db` or the socket path. */
export function describeConnection(connection: Redis): string {
  const seeds = clusterNodes(connection);
  if (seeds) return `cluster://${seeds.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const o = connection.options;
  if (o.sentinels && o.sentinels.length > 0) {
    return `sentinel://${o.sentinels.map((s) => `${s.host ?? 'localhost'}:${s.port ?? 26379}`).join(',')}/${o.name ?? 'mymaster'}/${o.db ?? 0}`;
  }
  const where = o.path ? `unix://${o.path}` : `${o.tls ? 'rediss' : 'redis'}://${o.host ?? 'localhost'}:${o.port ?? 6379}`;
  return `${where}/${o.db ?? 0}`;
}

/**
 * Resolves once Redis answers PING, or fails with RedisConnectionError after `timeoutMs`
 * (ioredis would otherwise queue commands and retry forever).
 */
export async function assertReachable(connection: Redis, timeoutMs = 5000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onError: ((err: Error) => void) | undefined;
  const where = describeConnection(connection);
  const failure = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new RedisConnectionError(`Cannot reach Redis at ${where} within ${timeoutMs} ms; is redis-server running there?`));
    }, timeoutMs);
    // The first connection error answers at once (e.g. ECONNREFUSED) instead of waiting for retries.
    onError = (err: Error) => reject(new RedisConnectionError(`Cannot connect to Redis at ${where}: ${err.message}`, { cause: err }));
    connection.once('error', onError);
  });
  try {
    await Promise.race([connection.ping(), failure]);
  } catch (cause) {
    if (cause instanceof RedisConnectionError) throw cause;
    throw new RedisConnectionError(`Redis at ${where} refused us: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  } finally {
    clearTimeout(timer);
    if (onError) connection.off('error', onError);
  }
}
