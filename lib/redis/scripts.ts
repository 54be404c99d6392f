import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChainableCommander, Redis } from 'ioredis';
import { CrossSlotError } from '../errors/CrossSlotError.js';
import { packArgs, type PackedArg } from './msgpack.js';
import { keySlot } from './slot.js';
import type { JobCounts } from '../PendingCounts.js';

/**
 * Every Lua script rq-ts runs is a file of lib/redis/lua/ whose header names its KEYS, its
 * arguments and its reply. Each script names every key it touches in KEYS (Redis Cluster and
 * Dragonfly refuse undeclared keys), so a script never builds a key name from data it reads.
 *
 * The call sites pass keys and arguments as named objects, typed by ScriptSpecs. SCRIPTS below
 * declares their order once, and the loader checks each header against it. On the wire they are
 * positional: KEYS in order, the arguments as one MessagePack array (msgpack.ts) that a prologue
 * unpacks into Lua locals of the same names, so no names cross the wire.
 */

type Scalar = string | number | Buffer;
type Flag = '1' | '0';

/**
 * How the NEXT block takes the next job: nothing, claim the head of the queues, start the job held
 * ahead (launched already, or not: its hash not known yet), or only take jobs ahead (group commit).
 */
export type NextMode = 'none' | 'claim-head' | 'start-held' | 'start-held-read' | 'take-ahead';

/** The NEXT block's arguments (lib/redis/lua/include/next.lua); '' where the mode does not use one. */
export interface NextArgs {
  nextMode: NextMode;
  nextId: string;
  nextQueue: number | '';
  claimedAt: string;
  jobMonitoringInterval: number | '';
  workerName: string;
  claimMode: 'inline' | 'process' | '';
  takeAhead: string;
  /** The execution id the next job is claimed under (protocol 2), '' for a bare StartedJobRegistry member (protocol 1). */
  nextExecId: string;
  /** How many queue heads the reply lists: the ids the worker's next calls expect at the head. */
  peekCount: number | '';
  /**
   * 'start-held' only: the heartbeat TTL of the held job, from the hash the worker took it with
   * (Worker.heartbeatTtl), so that the claim need not read the job's timeout again; '' = from Redis.
   */
  nextTtl: number | '';
}

/**
 * NEXT's reply, one flat list: {'suspended'} | {'empty'} | {'taken', queue, id}
 * | {'claimed'|'started'|'gone'|'lost'|'ahead', queue, id, t, ahead, peeked ids...}, where ahead lists the t
 * jobs taken ahead as queue (1..n), id, queue, id, ..., and the peeked ids run to the end. No job
 * hash: the worker reads those it needs right behind the script (Lookahead.send).
 */
export type NextReply = (Buffer | number)[];

/** rqFinish's and rqFail's reply: the outcome, how many dependents wait, then NEXT's reply (nothing for 'none'). */
export type OutcomeReply = [outcome: Buffer, dependents: number, ...next: (Buffer | number)[]];

interface JobKeys {
  queues: string;
  job: string;
  dependents: string;
  dependencies: string;
}

interface EnqueueArgs {
  queueMember: string;
  id: string;
  atFront: Flag;
  ttl: string;
  fields: readonly Scalar[];
}

/** Each script's KEYS and arguments by name, and its reply (bulk strings as Buffers where SCRIPTS says `buffers`). */
/** The keys rqFinish and rqFail share (include/leaveStarted.lua and outcomeCheck.lua read them by position). */
interface OutcomeKeys {
  job: string;
  wip: string;
  results: string;
  worker: string;
  dependents: string;
  dependencies: string;
  queue: string;
  queues: string;
  scheduled: string;
  intermediate: string;
  execution: string;
  executions: string;
  next: readonly string[];
}

/** The arguments rqFinish and rqFail share. */
interface OutcomeArgs extends NextArgs {
  id: string;
  endedAt: string;
  /** What the worker hash adds: '' or [successful, failed, working seconds] (lib/PendingCounts.ts). */
  counts: JobCounts | '';
  workerTtl: number;
  /** '' or the id of another job the worker still runs (concurrency > 1). */
  stillRunning: string;
  token: string;
  result: readonly string[];
  queueMember: string;
  execId: string;
}

export interface ScriptSpecs {
  rqEnqueue: { keys: JobKeys & { queue: string }; args: EnqueueArgs; reply: number };
  rqEnqueueMany: {
    keys: { queues: string; queue: string; jobs: readonly string[] };
    args: { queueMember: string; shared: readonly Scalar[]; own: readonly string[]; jobs: readonly Scalar[] };
    reply: number;
  };
  rqEnqueueDependent: {
    keys: JobKeys & { queue: string; deferred: string; perDependency: readonly string[] };
    args: EnqueueArgs & { now: number; allowFailures: Flag; dependencyIds: readonly string[] };
    reply: 'deferred' | 'queued';
  };
  rqEnqueueDependents: {
    keys: { dependents: string; queues: string; perDependent: readonly string[] };
    args: { enqueuedAt: string; deleteSet: Flag; dependents: readonly Scalar[] };
    reply: number;
  };
  rqSchedule: { keys: JobKeys & { scheduled: string }; args: Omit<EnqueueArgs, 'atFront'> & { runAt: number }; reply: 1 };
  rqEnqueueScheduled: {
    keys: { scheduled: string; queue: string; queues: string; jobs: readonly string[] };
    args: { queueMember: string; enqueuedAt: string; ids: readonly string[] };
    reply: number;
  };
  rqAbandonStarted: {
    keys: {
      wip: string;
      job: string;
      failed: string;
      dependents: string;
      dependencies: string;
      queue: string;
      queues: string;
      scheduled: string;
      results: string;
      execution: string;
      executions: string;
      intermediate: string;
    };
    args: {
      member: string;
      excInfo: Buffer;
      defaultFailureTtl: number;
      nowTs: string;
      queueMember: string;
      id: string;
      execId: string;
      result: readonly string[];
      orIntermediate: Flag;
    };
    reply: 'failed' | 'requeued' | 'scheduled' | 'gone';
  };
  rqTake: { keys: { next: readonly string[] }; args: NextArgs & { token: string }; reply: NextReply };
  rqClaim: {
    keys: { intermediate: string; job: string; wip: string; worker: string; execution: string; executions: string; queues: readonly string[] };
    args: { id: string; claimedAt: string; jobMonitoringInterval: number; workerName: string; claimMode: 'inline' | 'process'; execId: string; peekCount: number };
    /** The peeked ids; 0: the job's hash is gone, -1: its key is not a hash. */
    reply: 0 | -1 | Buffer[];
  };
  rqFinish: {
    keys: OutcomeKeys & { finished: string };
    args: OutcomeArgs & {
      resultTtl: number;
      /** '' or [repeats left after this run, interval seconds] */
      plan: '' | readonly [number, number];
    };
    reply: OutcomeReply;
  };
  rqFinishMany: {
    /** `rest`: 8 keys per job (GroupCommit in plugins/CleanupPlugin.ts), then the NEXT block's. */
    keys: { worker: string; rest: readonly string[] };
    args: NextArgs & {
      ids: readonly string[];
      startedAt: readonly string[];
      endedAt: readonly string[];
      resultTtls: readonly number[];
      claimed: readonly Flag[];
      results: readonly (readonly string[])[];
      counts: JobCounts | '';
      workerTtl: number;
      busyWith: string;
      token: string;
    };
    /** One letter per job (f, d, g), each job's dependents waiting, then NEXT's reply. */
    reply: [outcomes: Buffer, ...rest: (Buffer | number)[]];
  };
  rqFail: {
    keys: OutcomeKeys & { failed: string };
    args: OutcomeArgs & {
      failureTtl: number;
      failureTtlSet: Flag;
      status: 'failed' | 'stopped';
      defaultHandler: Flag;
    };
    reply: OutcomeReply;
  };
  rqUnclaim: {
    keys: { job: string; wip: string; queue: string; worker: string; execution: string; executions: string };
    args: { id: string; execId: string };
    reply: 0 | 1;
  };
  rqRelease: { keys: { intermediate: string; queue: string }; args: { id: string }; reply: 0 | 1 };
  rqBusyHeartbeat: {
    keys: { worker: string; job: string; wip: string; execution: string; executions: string };
    args: { workerTtl: number; nowTs: string; id: string; workingTime: string; execId: string };
    reply: 1;
  };
  rqRecoverIntermediate: {
    keys: { intermediate: string; queue: string; wip: string; seen: string; executions: string; job: string };
    args: { id: string; grace: number; field: string };
    reply: 'started' | 'gone' | 'marked' | 'waiting' | 'requeued';
  };
  rqEmptyChunk: { keys: { queue: string; jobs: readonly string[] }; args: { ids: readonly string[] }; reply: number };
}

export type ScriptName = keyof ScriptSpecs;
export type ScriptKeys<N extends ScriptName> = ScriptSpecs[N]['keys'];
export type ScriptArgs<N extends ScriptName> = ScriptSpecs[N]['args'];
export type ScriptReply<N extends ScriptName> = ScriptSpecs[N]['reply'];
/** A script call as a value: name, keys, arguments. */
export type ScriptCall<N extends ScriptName> = [name: N, keys: ScriptKeys<N>, args: ScriptArgs<N>];

type Names<T> = keyof T & string;

/**
 * A script's KEYS and arguments in order, as its header lists them. `...name` is the variable-length
 * tail of KEYS (the header's `n..` line). `buffers`: the reply's bulk strings come as Buffers (job
 * hashes, which may hold binary data).
 */
interface Signature<N extends ScriptName> {
  keys: readonly (Names<ScriptKeys<N>> | `...${Names<ScriptKeys<N>>}`)[];
  args: readonly Names<ScriptArgs<N>>[];
  buffers?: true;
}

type Listed<S> = S extends `...${infer K}` ? K : S;
/** The names ScriptSpecs has and a signature does not list: a compile error at `complete`. */
type Unlisted<T, L extends readonly string[]> = Exclude<Names<T>, Listed<L[number]>>;

/** Checks at compile time that a signature lists every key and argument of its ScriptSpecs entry. */
function complete<N extends ScriptName>() {
  return <const K extends Signature<N>['keys'], const A extends Signature<N>['args']>(
    s: { keys: K; args: A; buffers?: true } & ([Unlisted<ScriptKeys<N>, K> | Unlisted<ScriptArgs<N>, A>] extends [never]
      ? unknown
      : { unlisted: Unlisted<ScriptKeys<N>, K> | Unlisted<ScriptArgs<N>, A> }),
  ): Signature<N> => s;
}

const NEXT_ARGS = [
  'nextMode',
  'nextId',
  'nextQueue',
  'claimedAt',
  'jobMonitoringInterval',
  'workerName',
  'claimMode',
  'takeAhead',
  'nextExecId',
  'peekCount',
  'nextTtl',
] as const satisfies readonly (keyof NextArgs)[];

const SCRIPTS: { [N in ScriptName]: Signature<N> } = {
  rqEnqueue: complete<'rqEnqueue'>()({
    keys: ['queues', 'queue', 'job', 'dependents', 'dependencies'],
    args: ['queueMember', 'id', 'atFront', 'ttl', 'fields'],
  }),
  rqEnqueueMany: complete<'rqEnqueueMany'>()({ keys: ['queues', 'queue', '...jobs'], args: ['queueMember', 'shared', 'own', 'jobs'] }),
  rqEnqueueDependent: complete<'rqEnqueueDependent'>()({
    keys: ['queues', 'queue', 'job', 'dependents', 'dependencies', 'deferred', '...perDependency'],
    args: ['queueMember', 'id', 'atFront', 'ttl', 'now', 'allowFailures', 'dependencyIds', 'fields'],
  }),
  rqEnqueueDependents: complete<'rqEnqueueDependents'>()({
    keys: ['dependents', 'queues', '...perDependent'],
    args: ['enqueuedAt', 'deleteSet', 'dependents'],
  }),
  rqSchedule: complete<'rqSchedule'>()({
    keys: ['queues', 'scheduled', 'job', 'dependents', 'dependencies'],
    args: ['queueMember', 'id', 'runAt', 'ttl', 'fields'],
  }),
  rqEnqueueScheduled: complete<'rqEnqueueScheduled'>()({
    keys: ['scheduled', 'queue', 'queues', '...jobs'],
    args: ['queueMember', 'enqueuedAt', 'ids'],
  }),
  rqAbandonStarted: complete<'rqAbandonStarted'>()({
    keys: ['wip', 'job', 'failed', 'dependents', 'dependencies', 'queue', 'queues', 'scheduled', 'results', 'execution', 'executions', 'intermediate'],
    args: ['member', 'excInfo', 'defaultFailureTtl', 'nowTs', 'queueMember', 'id', 'execId', 'result', 'orIntermediate'],
  }),
  rqTake: complete<'rqTake'>()({ keys: ['...next'], args: [...NEXT_ARGS, 'token'], buffers: true }),
  rqClaim: complete<'rqClaim'>()({
    keys: ['intermediate', 'job', 'wip', 'worker', 'execution', 'executions', '...queues'],
    args: ['id', 'claimedAt', 'jobMonitoringInterval', 'workerName', 'claimMode', 'execId', 'peekCount'],
    buffers: true,
  }),
  rqFinish: complete<'rqFinish'>()({
    keys: ['job', 'wip', 'finished', 'results', 'worker', 'dependents', 'dependencies', 'queue', 'queues', 'scheduled', 'intermediate', 'execution', 'executions', '...next'],
    args: ['id', 'endedAt', 'resultTtl', 'counts', 'workerTtl', 'stillRunning', ...NEXT_ARGS, 'token', 'result', 'plan', 'queueMember', 'execId'],
    buffers: true,
  }),
  rqFinishMany: complete<'rqFinishMany'>()({
    keys: ['worker', '...rest'],
    args: ['ids', 'startedAt', 'endedAt', 'resultTtls', 'claimed', 'results', 'counts', 'workerTtl', 'busyWith', ...NEXT_ARGS, 'token'],
    buffers: true,
  }),
  rqFail: complete<'rqFail'>()({
    keys: ['job', 'wip', 'failed', 'results', 'worker', 'dependents', 'dependencies', 'queue', 'queues', 'scheduled', 'intermediate', 'execution', 'executions', '...next'],
    args: [
      'id',
      'endedAt',
      'failureTtl',
      'failureTtlSet',
      'counts',
      'workerTtl',
      'stillRunning',
      'status',
      'defaultHandler',
      'queueMember',
      'result',
      ...NEXT_ARGS,
      'token',
      'execId',
    ],
    buffers: true,
  }),
  rqUnclaim: complete<'rqUnclaim'>()({ keys: ['job', 'wip', 'queue', 'worker', 'execution', 'executions'], args: ['id', 'execId'] }),
  rqRelease: complete<'rqRelease'>()({ keys: ['intermediate', 'queue'], args: ['id'] }),
  rqBusyHeartbeat: complete<'rqBusyHeartbeat'>()({ keys: ['worker', 'job', 'wip', 'execution', 'executions'], args: ['workerTtl', 'nowTs', 'id', 'workingTime', 'execId'] }),
  rqRecoverIntermediate: complete<'rqRecoverIntermediate'>()({ keys: ['intermediate', 'queue', 'wip', 'seen', 'executions', 'job'], args: ['id', 'grace', 'field'] }),
  rqEmptyChunk: complete<'rqEmptyChunk'>()({ keys: ['queue', '...jobs'], args: ['ids'] }),
};

/**
 * tsc compiles lib/ to dist/lib/ without the .lua files: compiled, this module reads them from the
 * source tree (dist/lib/redis/ -> lib/redis/lua/), which the package ships.
 */
const LUA_DIR: URL = existsSync(new URL('lua/', import.meta.url)) ? new URL('lua/', import.meta.url) : new URL('../../../lib/redis/lua/', import.meta.url);

const INCLUDE = /^-- @include (\S+)[ \t]*$/gm;

/** The names a header section lists: KEYS lines are `<n> name` (`<n>.. name` for the tail), ARGV lines `name`. */
function headerSection(header: string, section: 'KEYS' | 'ARGV'): string[] | null {
  const lines = header.split('\n');
  const start = lines.findIndex((l) => l.trim() === section);
  if (start < 0) return null;
  const names: string[] = [];
  let expected = 1;
  for (const line of lines.slice(start + 1)) {
    if (line.trim() === '') break;
    // Continuation lines of a description are indented further.
    if (/^ {5}/.test(line)) continue;
    if (section === 'ARGV') {
      names.push(line.trim().split(/\s+/)[0]!);
      continue;
    }
    const m = /^\s*(\d+)(\.\.)?\s+(\w+)/.exec(line);
    if (!m || Number(m[1]) !== expected) throw new Error(`its KEYS line "${line.trim()}" should be "${expected} <name>" or "${expected}.. <name>"`);
    names.push(m[2] ? `...${m[3]}` : m[3]!);
    expected++;
  }
  return names;
}

function readLua(dir: URL, file: string): { text: string; header: string; path: string } {
  const url = new URL(file, dir);
  const path = fileURLToPath(url);
  const text = readFileSync(url, 'utf8');
  const header = /^--\[\[\n([\s\S]*?)\n\]\]\n/.exec(text)?.[1];
  if (header === undefined) throw new Error(`${path} has no header: it must start with a --[[ ... ]] comment`);
  return { text, header, path };
}

function mismatch(path: string, what: string, header: readonly string[], ts: readonly string[]): Error {
  return new Error(`${path}: the header's ${what} (${header.join(', ')}) do not match scripts.ts' SCRIPTS entry (${ts.join(', ')}); list the same names in the same order`);
}

interface Include {
  path: string;
  text: string;
  /** The includes it includes, in order. */
  uses: string[];
  args: string[];
  /** Statements that set its top-level variables back to their initial values (loadLibrary). */
  reset: string[];
}

/** `-- @include` lines come before any code: includes are placed in front of the script or library. */
function splitIncludes(text: string): { uses: string[]; code: string } {
  const uses: string[] = [];
  const code = text.replace(INCLUDE, (_line, include: string) => {
    uses.push(include);
    return '';
  });
  return { uses, code };
}

const TOP_LEVEL_LOCAL = /^local (?!function )(.*)$/gm;
const DECLARATION = /^([A-Za-z_]\w*(?:, [A-Za-z_]\w*)*)(?: = (.+))?$/;

function readInclude(dir: URL, name: string): Include {
  const part = readLua(dir, `include/${name}.lua`);
  const { uses, code } = splitIncludes(part.text);
  const reset: string[] = [];
  for (const [, declaration] of code.matchAll(TOP_LEVEL_LOCAL)) {
    // a table no function changes, marked so on its line, stays as the library's load made it
    if (declaration!.endsWith(' -- constant')) continue;
    const m = DECLARATION.exec(declaration!);
    const value = m?.[2] ?? 'nil';
    const balanced = (open: string, close: string): boolean => value.split(open).length === value.split(close).length;
    if (!m || !balanced('{', '}') || !balanced('(', ')')) {
      throw new Error(`${part.path}: the top-level "local ${declaration}" must be "local <names>" or "local <names> = <values>" on one line (a library sets it back before each call), or end with "-- constant"`);
    }
    reset.push(`${m[1]} = ${value}`);
  }
  return { path: part.path, text: code, uses, args: headerSection(part.header, 'ARGV') ?? [], reset };
}

interface Parsed {
  args: string[];
  /** Every include it needs, each once, an include's own includes before it. */
  includes: Include[];
  /** The file without its `-- @include` lines. */
  code: string;
}

/**
 * Reads script `name` and the includes it needs (each read once per `read` cache: scripts parsed
 * with one cache share their Include objects). Throws when the header does not list the KEYS and
 * arguments of `signature` in order, or an include reads an argument the script does not declare.
 */
function parseScript(name: string, signature: { keys: readonly string[]; args: readonly string[] }, dir: URL, read = new Map<string, Include>()): Parsed {
  const main = readLua(dir, `${name}.lua`);
  let keys: string[] | null;
  let args: string[] | null;
  try {
    keys = headerSection(main.header, 'KEYS');
    args = headerSection(main.header, 'ARGV');
  } catch (err) {
    throw new Error(`${main.path}: ${(err as Error).message}`);
  }
  if (!keys || !args) throw new Error(`${main.path}: the header must have a KEYS and an ARGV section`);
  if (keys.join() !== signature.keys.join()) throw mismatch(main.path, 'KEYS', keys, signature.keys);
  if (args.join() !== signature.args.join()) throw mismatch(main.path, 'ARGV', args, signature.args);
  // The names become Lua locals and JavaScript property reads (reader below).
  const bad = args.find((a) => !/^[A-Za-z_][A-Za-z0-9_]*$/.test(a));
  if (bad !== undefined) throw new Error(`${main.path}: the argument name "${bad}" is not an identifier (letters, digits, _)`);
  const { uses, code } = splitIncludes(main.text);
  const includes = new Map<string, Include>();
  const add = (include: string): void => {
    if (includes.has(include)) return;
    let part = read.get(include);
    if (!part) {
      part = readInclude(dir, include);
      read.set(include, part);
    }
    for (const arg of part.args) {
      if (!args.includes(arg)) throw new Error(`${part.path} reads the argument ${arg}, which the header of ${main.path} does not declare`);
    }
    for (const used of part.uses) add(used);
    includes.set(include, part);
  };
  for (const include of uses) add(include);
  return { args, includes: [...includes.values()], code };
}

/** The statement that unpacks the arguments (one MessagePack array) into the variables named as in the header. */
function unpackArgs(args: readonly string[], from: string): string {
  return `${args.join(', ')} = unpack(cmsgpack.unpack(${from}), 1, ${args.length})`;
}

/**
 * The source EVAL runs for script `name`: a prologue that unpacks the arguments into locals named
 * as in the header, the includes it needs (lua/include/<name>.lua, each once), then the file.
 */
export function loadScript(name: string, signature: { keys: readonly string[]; args: readonly string[] }, dir: URL = LUA_DIR): string {
  return evalSource(parseScript(name, signature, dir));
}

function evalSource(s: Parsed): string {
  return `local ${unpackArgs(s.args, 'ARGV[1]')}\n${s.includes.map((i) => i.text).join('')}${s.code}`;
}

/** Every script of SCRIPTS, parsed with one cache of includes. */
function parseAll(dir: URL): (Parsed & { name: ScriptName })[] {
  const read = new Map<string, Include>();
  return (Object.keys(SCRIPTS) as ScriptName[]).map((name) => ({ name, ...parseScript(name, SCRIPTS[name], dir, read) }));
}

/**
 * Every script as one Redis Functions library (Redis 7+), and each script's function name in it.
 *
 * Why: EVALSHA runs a script's whole chunk on every call, and with it the definitions of the ~25
 * local functions of its includes: each a new closure that looks up its upvalues and becomes
 * garbage at the end of the call (~30,000 instructions of Redis per job, 8 % of its work, callgrind).
 * A library runs its top level once, when it is loaded: the includes' functions are defined there,
 * and a call runs only the script's own file. What EVAL gets fresh on each call, a library call
 * gets set: KEYS and the arguments (library-level variables that the includes' functions read, as
 * they read the prologue's locals under EVAL) and the includes' top-level variables, set back to
 * their initial values (readInclude).
 *
 * The name carries a hash of the code: rq-ts versions that differ in a script load libraries that do
 * not replace one another, so a fleet can be upgraded worker by worker.
 */
export function loadLibrary(dir: URL = LUA_DIR, parsed = parseAll(dir)): { name: string; code: string; functions: Map<ScriptName, string> } {
  // in the order the scripts need them: an include's own includes come before it in each list
  const includes = new Set(parsed.flatMap((s) => s.includes));
  const args = [...new Set(parsed.flatMap((s) => s.args))];
  const body = (prefix: string): string =>
    [
      'local KEYS',
      `local ${args.join(', ')}`,
      ...[...includes].map((i) => i.text),
      `local function rqts_reset()\n  ${[...includes].flatMap((i) => i.reset).join('\n  ')}\nend`,
      ...parsed.map(
        (s) =>
          `redis.register_function('${prefix}${s.name}', function(keys, argv)\nKEYS = keys\nrqts_reset()\n${unpackArgs(s.args, 'argv[1]')}\n${s.code}end)`,
      ),
    ].join('\n');
  const hash = createHash('sha1').update(body('')).digest('hex').slice(0, 16);
  const name = `rqts_${hash}`;
  return {
    name,
    code: `#!lua name=${name}\n${body(`${name}_`)}\n`,
    functions: new Map(parsed.map((s) => [s.name, `${name}_${s.name}`])),
  };
}

type Values = (string | readonly string[] | PackedArg | undefined)[];

/**
 * A function that reads `names` off an object, in order. Generated once per script: its property
 * reads by constant names are what V8 inlines, where a loop over the names would look each one up
 * by a computed key on every call (this is every job's hot path). The names are identifiers: the
 * header parser and ScriptSpecs admit nothing else.
 */
function reader(names: readonly string[]): (o: object) => Values {
  return new Function('o', `return [${names.map((n) => `o.${n}`).join(', ')}];`) as (o: object) => Values;
}

/** Each script, with its source read and checked once, when this module loads. */
const PARSED = parseAll(LUA_DIR);
const LIBRARY = loadLibrary(LUA_DIR, PARSED);
const LOADED = PARSED.map((parsed) => {
  const name = parsed.name;
  const s: { keys: readonly string[]; args: readonly string[]; buffers?: true } = SCRIPTS[name];
  const tail = s.keys.at(-1)?.startsWith('...') ? s.keys.at(-1)!.slice(3) : null;
  const fixedKeys = tail ? s.keys.slice(0, -1) : s.keys;
  return {
    name,
    lua: evalSource(parsed),
    function: LIBRARY.functions.get(name)!,
    command: s.buffers ? `${name}Buffer` : name,
    buffers: s.buffers === true,
    fixedKeys,
    readKeys: reader(tail ? [...fixedKeys, tail] : fixedKeys),
    tail,
    args: s.args,
    readArgs: reader(s.args),
  };
});
type Loaded = (typeof LOADED)[number];
const BY_NAME = new Map<string, Loaded>(LOADED.map((s) => [s.name, s]));

type ScriptCommand = (...numKeysKeysAndArgs: (number | string | Buffer)[]) => Promise<unknown>;

const prepared = new WeakSet<Redis>();

function prepare(connection: Redis): void {
  if (prepared.has(connection)) return;
  for (const s of LOADED) {
    // defineCommand gives EVALSHA with a fallback to EVAL, in pipelines too, and a `${name}Buffer` twin.
    connection.defineCommand(s.name, { lua: s.lua });
  }
  prepared.add(connection);
}

/** A script call's words after its name: the number of KEYS, KEYS in order, the packed arguments. */
function wireArgs(target: Redis | ChainableCommander, s: Loaded, keys: object, args: object): (number | string | Buffer)[] {
  const out = s.readKeys(keys) as (number | string | Buffer)[];
  const fixed = s.fixedKeys.length;
  for (let i = 0; i < fixed; i++) {
    if (typeof out[i] !== 'string') throw new TypeError(`${s.name}: key "${s.fixedKeys[i]}" must be a string, got ${String(out[i])}`);
  }
  if (s.tail) {
    const tail = out.pop();
    if (!Array.isArray(tail)) throw new TypeError(`${s.name}: key list "${s.tail}" must be an array, got ${String(tail)}`);
    for (const key of tail as readonly string[]) out.push(key);
  }
  if ((target as { isCluster?: boolean }).isCluster) checkOneSlot(s.name, out as string[]);
  const values = s.readArgs(args);
  for (let i = 0; i < values.length; i++) {
    if (values[i] === undefined) throw new TypeError(`${s.name}: argument "${s.args[i]}" is missing`);
  }
  out.unshift(out.length);
  out.push(packArgs(values as PackedArg[]));
  return out;
}

/** Sends a script call on `target` with EVALSHA (EVAL when Redis does not have it yet). */
function send(target: Redis | ChainableCommander, s: Loaded, keys: object, args: object): Promise<unknown> {
  const command = (target as unknown as Record<string, ScriptCommand | undefined>)[s.command];
  if (!command) throw new Error(`Lua script ${s.name} is not defined on this connection; create pipelines with pipeline() or multi() from lib/redis`);
  return command.apply(target, wireArgs(target, s, keys, args));
}

/**
 * On a Redis Cluster every key of one script must hash to one slot. The key names come from the
 * prefix, so keys that do not share a slot mean a prefix without a hash tag (`rq:` rather than
 * `{rq}:`): refused here, naming two keys that differ, before anything is sent.
 */
function checkOneSlot(script: string, keys: readonly string[]): void {
  if (keys.length < 2) return;
  const first = keySlot(keys[0]!);
  for (const key of keys) {
    const slot = keySlot(key);
    if (slot !== first) {
      throw new CrossSlotError(
        `Script ${script} would touch keys in different Redis Cluster slots (${JSON.stringify(keys[0])} in slot ${first}, ${JSON.stringify(key)} in slot ${slot}), which a cluster refuses. ` +
          "Use a key prefix with a hash tag, such as the default '{rq}:' on a cluster (REDIS_PREFIX / the \"prefix\" connection setting), so that all of rq's keys share one slot.",
      );
    }
  }
}

/**
 * How a connection runs scripts: as functions of LIBRARY (FCALL), or with EVALSHA where Redis has no
 * functions (before 7.0, some Redis-compatible servers), refuses FUNCTION to this user (ACL), or is a
 * cluster (a library would have to be loaded on each primary). Decided by loading the library at the
 * connection's first script call: pending meanwhile.
 */
type Mode = 'function' | 'eval';
const modes = new WeakMap<Redis, Mode | Promise<Mode>>();

/** Replies to FUNCTION LOAD that mean: no functions for this connection. */
const NO_FUNCTIONS = /unknown command|unknown subcommand|NOPERM/i;

async function loadLibraryOn(connection: Redis): Promise<Mode> {
  if ((connection as { isCluster?: boolean }).isCluster) return 'eval';
  let mode: Mode = 'function';
  try {
    await connection.call('FUNCTION', 'LOAD', LIBRARY.code);
  } catch (err) {
    const message = (err as Error).message ?? '';
    if (NO_FUNCTIONS.test(message)) mode = 'eval';
    else if (!message.includes(`'${LIBRARY.name}' already exists`)) {
      // Redis could not answer now (loading, a replica, out of memory, gone): the next call tries again.
      modes.delete(connection);
      throw err;
    }
  }
  modes.set(connection, mode);
  return mode;
}

/** Runs the function of script `s`; loads the library again when Redis lost it (FUNCTION FLUSH, a restart without persistence). */
function callFunction(connection: Redis, s: Loaded, keys: object, args: object, retried = false): Promise<unknown> {
  const words = wireArgs(connection, s, keys, args);
  const reply = s.buffers ? connection.callBuffer('FCALL', s.function, ...words) : connection.call('FCALL', s.function, ...words);
  return reply.catch((err: Error) => {
    if (retried || !/Function not found/i.test(err.message)) throw err;
    modes.delete(connection);
    return runOn(connection, s, keys, args, true);
  });
}

function runOn(connection: Redis, s: Loaded, keys: object, args: object, retried = false): Promise<unknown> {
  let mode = modes.get(connection);
  if (mode === undefined) {
    mode = loadLibraryOn(connection);
    modes.set(connection, mode);
  }
  if (mode === 'function') return callFunction(connection, s, keys, args, retried);
  if (mode === 'eval') return send(connection, s, keys, args);
  return mode.then((m) => (m === 'function' ? callFunction(connection, s, keys, args, retried) : send(connection, s, keys, args)));
}

/** Run a script and get its reply. */
export function runScript<N extends ScriptName>(connection: Redis, name: N, keys: ScriptKeys<N>, args: ScriptArgs<N>): Promise<ScriptReply<N>> {
  prepare(connection);
  // The reply's shape is the script's (its header and ScriptSpecs say the same): ioredis knows it as unknown.
  return runOn(connection, BY_NAME.get(name)!, keys, args) as Promise<ScriptReply<N>>;
}

/** A MULTI/EXEC transaction on `connection` that can hold script calls. */
export function multi(connection: Redis): ChainableCommander {
  prepare(connection);
  return connection.multi();
}

/** A pipeline on `connection` that can hold script calls. */
export function pipeline(connection: Redis): ChainableCommander {
  prepare(connection);
  return connection.pipeline();
}

/**
 * Add a script call to a pipeline or MULTI made by `pipeline()` or `multi()`. It runs with EVALSHA
 * (ioredis loads a script Redis lacks before it sends the pipeline): a library that Redis lost would
 * fail a transaction's call half-way, where a single call is simply sent again.
 */
export function queueScript<N extends ScriptName>(target: ChainableCommander, name: N, keys: ScriptKeys<N>, args: ScriptArgs<N>): void {
  void send(target, BY_NAME.get(name)!, keys, args);
}
