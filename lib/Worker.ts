import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { PluginError } from './errors/PluginError.js';
import type { Protocol } from './protocol.js';
import { RqError } from './errors/RqError.js';
import { createHooks, JOB_HOOKS, type Horse, type WorkerHooks } from './hooks.js';
import { HorseSupervisor } from './horse/HorseSupervisor.js';
import { JobEngine } from './JobEngine.js';
import { DEFAULT_RESULT_TTL, Job } from './Job.js';
import { createLogger, type Logger } from './logging.js';
import { Queue, validateQueueName, type JobClass } from './Queue.js';
import { describeConnection, keysOf } from './redis/connection.js';
import { isTransient } from './RedisOutage.js';
import type { Keys } from './redis/keys.js';
import { defaultSerializer, type Serializer } from './serializers.js';
import { utcparse } from './time.js';
import type { DeathPenaltyClass } from './timeouts/BaseDeathPenalty.js';
import { TimerDeathPenalty } from './timeouts/TimerDeathPenalty.js';

/** A plugin: taps the worker's hooks in `apply`. One class per file in plugins/, tap name = class name. */
export interface RqPlugin {
  apply(worker: Worker): void;
}

/**
 * The built-in plugins for a worker, applied after the user's. lib/ does not know them: the edges
 * that hand out workers (the package entry, the CLI, the horse process) register plugins/'s
 * assembly with useBuiltins, as webpack's WebpackOptionsApply applies its defaults from outside Compiler.
 */
export type BuiltinPlugins = (worker: Worker) => RqPlugin[];
let builtins: BuiltinPlugins | null = null;

/** Registers the built-in plugins every Worker applies after the user's (see BuiltinPlugins). */
export function useBuiltins(assembly: BuiltinPlugins): void {
  builtins = assembly;
}

/**
 * An exception handler, called as `(job, error)` in order after a job fails; returning `false`
 * stops the chain, anything else continues (rq's convention).
 */
export type ExceptionHandler = (job: Job, error: Error, worker: Worker) => unknown;

export type WorkerState = 'starting' | 'started' | 'idle' | 'busy' | 'suspended';
/**
 * `worker`: the process started by `rq worker` (or `work()` in your code); `horse`: the child process
 * that runs its jobs — sent one by one, or taken by the horse itself (`horseLoop`, HorseOptions.loop).
 */
export type WorkerRole = 'worker' | 'horse';
export type QueueClass = typeof Queue;

/** Options of the warm work horse (the child process that runs jobs for `Worker`). */
export interface HorseOptions {
  /**
   * The horse takes, runs and records its jobs itself, as SimpleWorker does, while the worker
   * process supervises it (signals, commands, a horse that dies, replacing it): one process hand-over
   * less per job. Default: on when nothing per job has to run in the worker process (see
   * Worker.horseLoopBlockers); `false` keeps every job's stages in the worker; `true` fails at start
   * with the reasons when it cannot be on.
   */
  loop?: boolean;
  /** Replace the horse after this many jobs (default: never). */
  maxJobs?: number;
  /** Replace the horse when its resident memory passes this many MiB after a job (default: never). */
  maxMemoryMb?: number;
  /** Plugins (dotted paths) applied inside the horse, in role `horse`. */
  plugins?: string[];
  /** Modules (dotted paths or files) the horse imports before its first job. */
  preload?: string[];
  /** Dotted path of the worker class the horse builds (default: the built-in Worker). */
  workerClass?: string;
  /** Dotted path of the job class the horse builds jobs with. */
  jobClass?: string;
  /** Dotted path of the queue class (its jobClass is the horse's job class when jobClass is not given). */
  queueClass?: string;
  /** Dotted path of the Redis client class the horse connects with. */
  connectionClass?: string;
  /** Dotted path of the serializer the horse uses. */
  serializer?: string;
  /** Dotted paths of the exception handlers, for a horse that takes its own jobs (the CLI's --exception-handler). */
  exceptionHandlers?: string[];
  /** Extra arguments for node in the horse (e.g. `--max-old-space-size=512`). */
  execArgv?: string[];
}

/** Where to report job failures (rq's `--sentry-dsn`, `--sentry-ca-certs`, `--sentry-debug`). */
export interface SentryOptions {
  dsn: string;
  /** PEM of the CA that signs the Sentry server's certificate (the contents of rq's --sentry-ca-certs file). */
  caCerts?: string | Buffer;
  debug?: boolean;
}

export interface WorkerOptions {
  connection: Redis;
  name?: string;
  /** Seconds results are kept (rq's `--results-ttl`, default 500). */
  resultTtl?: number;
  /** Seconds the worker key lives without a heartbeat (rq's `--worker-ttl`, default 420). */
  workerTtl?: number;
  /** Seconds between heartbeats while busy (rq's `--job-monitoring-interval`, default 30). */
  jobMonitoringInterval?: number;
  /** Seconds between registry cleanups (default 600). */
  maintenanceInterval?: number;
  /**
   * The python-rq wire protocol written at claims (lib/protocol.ts, RQ_PROTOCOL): 1 (default: rq
   * 1.13's bare StartedJobRegistry members, which every rq reads), 2 (rq 2.x's executions), 'auto'
   * (2 unless a python-rq 1.x worker is registered).
   */
  protocol?: Protocol;
  jobClass?: JobClass;
  queueClass?: QueueClass;
  deathPenaltyClass?: DeathPenaltyClass;
  exceptionHandlers?: ExceptionHandler[];
  disableDefaultExceptionHandler?: boolean;
  maxJobs?: number;
  /**
   * How many jobs run at once (default 1): for async, I/O-bound jobs. Up to N jobs share the event
   * loop of the process that runs them (SimpleWorker's own, or the one horse of a Worker), each in
   * the StartedJobRegistry with its own heartbeat and timeout, and its outcome recorded alone.
   * Jobs taken ahead (one round trip per job) are off when N > 1. See docs/workers.md "Concurrency".
   */
  concurrency?: number;
  /**
   * Group commit (default 8; 1 turns it off): a SimpleWorker, or a Worker's horse, busy with short
   * jobs runs them straight from the intermediate lists they were taken into and records up to this
   * many successes in one script call. A job still running after 2 ms is registered as started as
   * usual. A SimpleWorker killed mid-batch loses no job, but the short jobs it had finished and not
   * yet recorded (at most 3 x batch - 1) run again; a horse's worker records them from the horse's
   * log instead. See docs/workers.md "Group commit".
   */
  batch?: number;
  plugins?: RqPlugin[];
  serializer?: Serializer;
  logger?: Logger;
  /** Folders searched for job modules before cwd (rq's `--path`). */
  paths?: string[];
  /** Log `Got job <id>` instead of the job's call string. */
  disableJobDescLogging?: boolean;
  /** SIGINT/SIGTERM handling (warm, then cold shutdown). Default true in role `worker`. */
  installSignalHandlers?: boolean;
  /**
   * Seconds a worker stopping on a signal waits for an unreachable Redis before it exits without the
   * rest of its bookkeeping, which maintenance then recovers (default 10). A second signal exits within 2 s.
   */
  shutdownTimeout?: number;
  horse?: HorseOptions;
  role?: WorkerRole;
  /**
   * Report job failures to Sentry (rq's `--sentry-dsn`): a built-in plugin, in the worker process
   * and in a horse that takes its own jobs.
   */
  sentry?: SentryOptions;
  /** Also run rq's scheduler for these queues (rq's `--with-scheduler`). */
  withScheduler?: boolean;
  /** Seconds a success or failure callback may run (rq's CALLBACK_TIMEOUT, 60). */
  callbackTimeout?: number;
  /**
   * Module prefixes job functions may come from (`JOB_MODULES`). Default: any module under the
   * worker's paths (cwd and --path), no installed packages.
   */
  allowedModules?: string[];
}

/**
 * The options that are objects of this process (a connection, classes, functions): a horse rebuilds
 * each from a name (HorseOptions' dotted paths) or does without.
 */
type LiveOptions = 'connection' | 'jobClass' | 'queueClass' | 'deathPenaltyClass' | 'exceptionHandlers' | 'plugins' | 'serializer' | 'logger';

/**
 * The worker's options that are plain data: carried to its horse as they are (HorseSpec.settings),
 * so an option added to WorkerOptions reaches the horse without being copied by hand.
 */
export type WorkerSettings = Omit<WorkerOptions, LiveOptions>;

export interface WorkOptions {
  /** Drain the queues and stop (rq's `--burst`). */
  burst?: boolean;
  /** Stop after this many jobs. */
  maxJobs?: number;
}

/**
 * A worker: reads its queues in priority order and runs one job at a time, each in a warm child
 * process (the work horse), so that nothing a job does can take the worker down.
 */
export class Worker {
  static deathPenaltyClass: DeathPenaltyClass = TimerDeathPenalty;
  static queueClass: QueueClass = Queue;
  static jobClass: JobClass = Job;

  readonly hooks: WorkerHooks = createHooks();
  /** The job loop and its look-ahead: runs where jobs run (see runsJobs). */
  readonly engine: JobEngine = new JobEngine(this);
  readonly name: string;
  readonly connection: Redis;
  readonly queues: Queue[];
  readonly role: WorkerRole;
  readonly jobClass: JobClass;
  readonly queueClass: QueueClass;
  readonly serializer: Serializer;
  readonly deathPenaltyClass: DeathPenaltyClass;
  readonly exceptionHandlers: ExceptionHandler[];
  readonly disableDefaultExceptionHandler: boolean;
  readonly resultTtl: number;
  readonly workerTtl: number;
  readonly jobMonitoringInterval: number;
  readonly maintenanceInterval: number;
  readonly protocol: Protocol;
  /** Whether claims write rq 2.x's executions now (protocol 2, or 'auto' decided so): see JobEngine.run. */
  executions = false;
  readonly paths: string[];
  readonly disableJobDescLogging: boolean;
  readonly horseOptions: HorseOptions;
  readonly logger: Logger;
  readonly plugins: RqPlugin[];
  readonly withScheduler: boolean;
  readonly allowedModules: string[] | undefined;
  readonly callbackTimeout: number;
  readonly shutdownTimeout: number;
  readonly sentry: SentryOptions | undefined;
  /** The options given that are plain data (see WorkerSettings). */
  readonly settings: Readonly<WorkerSettings>;

  hostname: string = hostname();
  pid: number = process.pid;
  ipAddress = 'unknown';
  version = '';
  /** The runtime the worker wrote (`python_version`): `node v20.…` for rq-ts, Python's `sys.version` for rq. */
  pythonVersion = '';
  state: WorkerState | null = null;
  /** Id of the job being worked on (from Redis for a worker found by key). */
  currentJobId: string | null = null;
  /** The job being worked on, in the worker that runs it. */
  currentJob: Job | null = null;
  /** The horse running the current job. */
  horse: Horse | null = null;
  lastHeartbeat: Date | null = null;
  birthDate: Date | null = null;
  deathDate: Date | null = null;
  successfulJobCount = 0;
  failedJobCount = 0;
  /** Seconds spent in jobs. */
  totalWorkingTime = 0;
  /** When the current job started, for working-time figures. */
  jobStartedAt: Date | null = null;

  burst = false;
  maxJobs: number | null;
  /** How many jobs run at once (WorkerOptions.concurrency). */
  readonly concurrency: number;
  /** How many successes one call records at most (WorkerOptions.batch). */
  readonly batch: number;
  jobsDone = 0;
  /** Aborted by the first SIGINT/SIGTERM (or `requestStop`): plugins stop waiting. */
  readonly stopSignal: AbortSignal;
  coldShutdown = false;
  private readonly stopController = new AbortController();
  private readonly installSignals: boolean;
  private pluginsApplied = false;
  /** Why the horse cannot take its own jobs, as found when the user's plugins were applied. */
  private loopBlockers: string[] | null = null;
  /**
   * The horse takes, runs and records its own jobs: in a worker, decided when the plugins are applied
   * (HorseOptions.loop); in a horse, given by its worker.
   */
  horseLoop: boolean;

  constructor(queues: string | Queue | readonly (string | Queue)[], options: WorkerOptions) {
    if (!options?.connection) throw new RqError('A worker needs a connection: new Worker(queues, { connection })');
    const ctor = new.target as typeof Worker;
    const { connection: _c, jobClass: _j, queueClass: _q, deathPenaltyClass: _d, exceptionHandlers: _e, plugins: _p, serializer: _s, logger: _l, ...settings } = options;
    this.settings = Object.freeze(settings);
    this.connection = options.connection;
    this.role = options.role ?? 'worker';
    this.queueClass = options.queueClass ?? ctor.queueClass;
    // A custom queue class names its job class (rq's Queue.job_class); an explicit jobClass wins.
    this.jobClass = options.jobClass ?? (options.queueClass ? options.queueClass.jobClass : ctor.jobClass);
    this.serializer = options.serializer ?? defaultSerializer;
    const list = typeof queues === 'string' || queues instanceof Queue ? [queues] : [...queues];
    if (list.length === 0) throw new RqError('A worker needs at least one queue');
    this.queues = list.map((q) =>
      typeof q === 'string'
        ? new this.queueClass(validateQueueName(q), { connection: this.connection, jobClass: this.jobClass, serializer: this.serializer })
        : q,
    );
    this.name = options.name ?? randomUUID().replace(/-/g, '');
    if (!/^[^\s:]+$/.test(this.name)) throw new RqError(`Invalid worker name ${JSON.stringify(this.name)}: no whitespace or ':'`);
    this.deathPenaltyClass = options.deathPenaltyClass ?? ctor.deathPenaltyClass;
    this.exceptionHandlers = [...(options.exceptionHandlers ?? [])];
    this.disableDefaultExceptionHandler = options.disableDefaultExceptionHandler ?? false;
    this.resultTtl = nonNegative(options.resultTtl ?? DEFAULT_RESULT_TTL, 'resultTtl', true);
    this.workerTtl = positive(options.workerTtl ?? 420, 'workerTtl');
    this.jobMonitoringInterval = positive(options.jobMonitoringInterval ?? 30, 'jobMonitoringInterval');
    this.maintenanceInterval = positive(options.maintenanceInterval ?? 600, 'maintenanceInterval');
    const protocol = options.protocol ?? 1;
    if (protocol !== 1 && protocol !== 2 && protocol !== 'auto') {
      throw new RqError(`Invalid protocol ${JSON.stringify(protocol)}: expected 1 (rq 1.13's bare ids), 2 (rq 2.x's executions) or 'auto'`);
    }
    this.protocol = protocol;
    this.maxJobs = options.maxJobs === undefined ? null : positive(options.maxJobs, 'maxJobs');
    this.concurrency = options.concurrency === undefined ? 1 : wholePositive(options.concurrency, 'concurrency');
    this.batch = options.batch === undefined ? 8 : wholePositive(options.batch, 'batch');
    this.paths = [...(options.paths ?? [])];
    this.disableJobDescLogging = options.disableJobDescLogging ?? false;
    this.horseOptions = { ...options.horse };
    this.logger = options.logger ?? createLogger();
    this.plugins = [...(options.plugins ?? [])];
    this.withScheduler = options.withScheduler ?? false;
    this.allowedModules = options.allowedModules ? [...options.allowedModules] : undefined;
    this.callbackTimeout = positive(options.callbackTimeout ?? 60, 'callbackTimeout');
    this.shutdownTimeout = positive(options.shutdownTimeout ?? 10, 'shutdownTimeout');
    this.sentry = options.sentry;
    this.installSignals = options.installSignalHandlers ?? this.role === 'worker';
    this.horseLoop = this.role === 'horse' && options.horse?.loop === true;
    this.stopSignal = this.stopController.signal;
  }

  /**
   * This worker object itself, also when read through the lane of one of its concurrent jobs
   * (JobEngine): for what is kept per worker object (the LoopWatchdog's registration).
   */
  get root(): Worker {
    return this;
  }

  get keys(): Keys {
    return keysOf(this.connection);
  }
  /** `rq:worker:<name>` */
  get key(): string {
    return this.keys.worker(this.name);
  }
  get queueNames(): string[] {
    return this.queues.map((q) => q.name);
  }
  get stopRequested(): boolean {
    return this.stopSignal.aborted;
  }

  /** Seconds between idle heartbeats and the blocking wait's timeout (rq: worker_ttl - 15). */
  get dequeueTimeout(): number {
    return Math.max(1, this.workerTtl - 15);
  }

  /**
   * TTL of the worker key and of the job's StartedJobRegistry entry while busy (rq's heartbeat_ttl):
   * the next heartbeat comes within jobMonitoringInterval, plus 60 s of grace.
   */
  heartbeatTtl(job: Job, workingSeconds = 0): number {
    const timeout = job.timeout ?? 180;
    // No heartbeat can be relied on while a job runs in the event loop that would send it (rq's SimpleWorker rule).
    if (this.runsJobsInline) return timeout <= 0 ? 420 : timeout + 60;
    if (timeout > 0) return Math.ceil(Math.min(timeout - workingSeconds, this.jobMonitoringInterval) + 60);
    return this.jobMonitoringInterval + 60;
  }

  /**
   * How the claim scripts compute heartbeatTtl in Redis: `process` (rq's Worker rule) or `inline`
   * (rq's SimpleWorker rule). A subclass that overrides heartbeatTtl overrides this to match.
   */
  get claimMode(): 'inline' | 'process' {
    return this.runsJobsInline ? 'inline' : 'process';
  }

  /**
   * Jobs run in the event loop that would send their heartbeats: SimpleWorker. (A horse that takes
   * its own jobs keeps Worker's rule: its worker process sends the heartbeats too.)
   */
  get runsJobsInline(): boolean {
    return this.horseKind === 'inline';
  }

  /** Where jobs run: `process` in a warm horse (Worker), `inline` in the worker's own process (SimpleWorker). */
  get horseKind(): 'process' | 'inline' {
    return 'process';
  }

  /**
   * Whether the job engine runs in this process, so that the job hooks (dequeue to cleanup,
   * exception) fire here: SimpleWorker, a horse that takes its own jobs, and a Worker whose horse
   * cannot. Plugins that tap job hooks check it at apply(), where it is already final unless a
   * plugin object taps a job hook of a Worker whose horse would take its own jobs (see applyPlugins).
   */
  get runsJobs(): boolean {
    if (this.role === 'horse') return this.horseLoop;
    return this.horseKind === 'inline' || !this.horseLoop;
  }

  /**
   * Why the horse cannot take its own jobs (HorseOptions.loop): everything a job's stages use must
   * be rebuilt in the horse from names (dotted paths, plain settings), so code given as objects
   * keeps those stages in the worker process. Empty when it can (or does).
   */
  horseLoopBlockers(): string[] {
    return [...(this.loopBlockers ?? [...this.optionBlockers(), ...this.jobTaps()])];
  }

  /** What of the options keeps the job stages in the worker process: known before any plugin is applied. */
  private optionBlockers(): string[] {
    const why: string[] = [];
    if (this.role !== 'worker' || this.horseKind !== 'process') return ['jobs do not run in a horse process'];
    const h = this.horseOptions;
    if (this.exceptionHandlers.length > 0 && h.exceptionHandlers?.length !== this.exceptionHandlers.length) {
      why.push('exception handlers are functions of the worker process (name them by dotted path in horse.exceptionHandlers)');
    }
    if (this.deathPenaltyClass !== TimerDeathPenalty) why.push(`the death penalty ${this.deathPenaltyClass.name} is a class of the worker process`);
    if (!this.logger.settings) why.push('the logger is an object of your own (the horse can only rebuild a createLogger() logger writing to stderr)');
    if (Object.getPrototypeOf(this) !== Worker.prototype && !h.workerClass) why.push(`the worker class ${this.constructor.name} has no dotted path (horse.workerClass)`);
    if (this.jobClass !== Job && !h.jobClass && !h.queueClass) why.push(`the job class ${this.jobClass.name} has no dotted path (horse.jobClass)`);
    if (this.queueClass !== Queue && !h.queueClass) why.push(`the queue class ${this.queueClass.name} has no dotted path (horse.queueClass)`);
    if (this.serializer !== defaultSerializer && !h.serializer) why.push('the serializer has no dotted path (horse.serializer)');
    return why;
  }

  /** The taps the user's plugins made on job hooks in this process. */
  private jobTaps(): string[] {
    const why: string[] = [];
    for (const stage of JOB_HOOKS) {
      for (const tap of this.hooks[stage].taps) why.push(`the plugin tap "${tap.name}" on the ${stage} hook runs in the worker process`);
    }
    return why;
  }

  /**
   * Applies the user's plugins, then the built-in ones (once). Whether the horse takes its own jobs
   * is decided from the options before the plugins see the worker, so that they see the real mode;
   * only a plugin object that taps a job hook here changes it afterwards, and the worker says so.
   */
  applyPlugins(): void {
    if (this.pluginsApplied) return;
    if (!builtins) throw new RqError('No built-in plugins are registered: import Worker from the package entry ("rq-ts"), which registers them');
    this.pluginsApplied = true;
    const decides = this.role === 'worker' && this.horseKind === 'process' && this.horseOptions.loop !== false;
    const refuse = (why: string[]): RqError =>
      new RqError(`horse.loop is true, but the horse cannot take its own jobs: ${why.join('; ')}. Leave horse.loop unset to fall back, or name these by dotted path.`);
    const before = this.optionBlockers();
    if (decides) {
      if (before.length > 0 && this.horseOptions.loop === true) throw refuse(before);
      this.horseLoop = before.length === 0;
    }
    for (const plugin of this.plugins) {
      try {
        plugin.apply(this);
      } catch (err) {
        throw new PluginError('apply', plugin.constructor?.name && plugin.constructor !== Object ? plugin.constructor.name : 'plugin object', err);
      }
    }
    const taps = this.jobTaps();
    this.loopBlockers = [...before, ...taps];
    if (decides && this.horseLoop && taps.length > 0) {
      if (this.horseOptions.loop === true) throw refuse(taps);
      this.horseLoop = false;
    }
    if (this.concurrency > 1 && decides && !this.horseLoop) {
      throw new RqError(
        `concurrency ${this.concurrency} needs a horse that takes its own jobs (jobs sent one by one to the horse run one at a time), but ${this.loopBlockers.join('; ')}. Name these by dotted path, or use SimpleWorker.`,
      );
    }
    if (this.concurrency > 1 && this.role === 'worker' && this.horseKind === 'process' && this.horseOptions.loop === false) {
      throw new RqError(`concurrency ${this.concurrency} needs a horse that takes its own jobs: leave horse.loop unset (no --no-horse-loop), or use SimpleWorker.`);
    }
    if (decides && !this.horseLoop) {
      this.logger.warning(
        `Job stages run in this worker process and each job goes to the work horse and back, about half the throughput of a horse that takes its own jobs, because ${this.loopBlockers.join('; ')}. Set horse.loop false (--no-horse-loop) to choose this without the warning.`,
      );
    }
    for (const plugin of builtins(this)) plugin.apply(this);
  }

  /** Warm shutdown: finish the current job (if any), then stop. */
  requestStop(reason = 'Warm shut down requested', log = true): void {
    if (this.stopRequested) return;
    if (log) this.logger.info(reason);
    this.stopController.abort(new RqError(reason));
  }

  /** Cold shutdown: kill the current job's horse at once, then stop. */
  requestForceStop(): void {
    this.coldShutdown = true;
    this.logger.warning('Cold shut down');
    this.stopController.abort(new RqError('Cold shut down'));
    this.horse?.kill('Cold shut down');
  }

  /**
   * Runs the worker: startup and register, then the job engine (or, when the horse takes its own
   * jobs, the supervision of horses that run it), until stopped (signal, burst drained, maxJobs);
   * then shutdown. Returns whether any job was run.
   */
  async work(options: WorkOptions = {}): Promise<boolean> {
    if (this.role === 'horse' && !this.horseLoop) throw new RqError('A worker in role "horse" does not dequeue; it runs jobs sent by its worker');
    this.burst = options.burst ?? false;
    if (options.maxJobs !== undefined) this.maxJobs = positive(options.maxJobs, 'maxJobs');
    this.applyPlugins();
    const removeSignals = this.installSignals ? this.installSignalHandlers() : () => {};
    const doneBefore = this.jobsDone;
    const supervisor = this.runsJobs ? null : new HorseSupervisor(this);
    try {
      // A horse that takes its own jobs started up when it was spawned, and its worker is registered.
      if (this.role === 'worker') {
        await this.hooks.startup.promise(this);
        // Started with the worker, so that a broken config fails before it registers.
        await supervisor?.start();
        await this.hooks.register.promise(this);
      }
      if (supervisor) await supervisor.run();
      else await this.engine.run();
    } finally {
      try {
        await supervisor?.retire();
        await this.hooks.shutdown.promise(this);
      } finally {
        removeSignals();
        // Everything the worker logged is out when work() returns (lines are batched per event-loop turn).
        this.logger.flush?.();
      }
    }
    return this.jobsDone > doneBefore;
  }

  private installSignalHandlers(): () => void {
    let watch: NodeJS.Timeout | null = null;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (this.stopRequested) {
        this.requestForceStop();
        // Whatever Redis does: what is not recorded by then, maintenance recovers (as after a SIGKILL).
        setTimeout(() => this.exitNow('Cold shut down did not finish within 2 s: exiting'), 2000).unref();
        return;
      }
      this.requestStop(`Warm shut down requested (${signal})`);
      watch = this.exitIfRedisStaysDown();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    return () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      if (watch) clearInterval(watch);
    };
  }

  /**
   * A stop must not hang on an unreachable Redis (the outcome, the jobs taken ahead and the death are
   * written there): once Redis has not answered for shutdownTimeout seconds since the stop was asked
   * for, the worker kills its horse and exits. What it could not record is what a SIGKILLed worker
   * leaves, and maintenance recovers it when Redis is back. A connection that is up does not mean
   * Redis answers: a probe (PING) refused with BUSY, LOADING, ... or left unanswered counts as down.
   */
  private exitIfRedisStaysDown(): NodeJS.Timeout {
    let downSince: number | null = null;
    /** When the probe in flight was sent; null when none is. */
    let probeSent: number | null = null;
    /** Since when probes have been refused ("not now" replies); null while they are answered. */
    let refusedSince: number | null = null;
    const probe = (): void => {
      const sent = Date.now();
      probeSent = sent;
      this.connection.ping().then(
        () => {
          refusedSince = null;
          probeSent = null;
        },
        (err: unknown) => {
          if (isTransient(err)) refusedSince ??= sent;
          probeSent = null;
        },
      );
    };
    const timer = setInterval(() => {
      const now = Date.now();
      let down: number | null = null;
      if (this.connection.status !== 'ready') down = now;
      else {
        if (probeSent === null) probe();
        else if (now - probeSent > 1000) down = probeSent;
        if (refusedSince !== null) down = Math.min(down ?? now, refusedSince);
      }
      if (down === null) {
        downSince = null;
        return;
      }
      downSince ??= down;
      if (Date.now() - downSince < this.shutdownTimeout * 1000) return;
      clearInterval(timer);
      this.coldShutdown = true;
      this.horse?.kill('Redis unreachable during shutdown');
      this.exitNow(
        `Redis at ${describeConnection(this.connection)} has not answered for ${this.shutdownTimeout} s since the stop was requested: exiting without recording the rest (the current job's outcome, jobs taken ahead, this worker's death); maintenance recovers them once Redis is back`,
      );
    }, 250);
    timer.unref();
    return timer;
  }

  private exitNow(why: string): never {
    this.logger.error(why);
    this.logger.flush?.();
    process.exit(1);
  }

  /** Reloads the public attributes from the worker's hash (for workers found by key). */
  async refresh(): Promise<void> {
    const h = await this.connection.hgetall(this.key);
    this.loadHash(h);
  }

  private loadHash(h: Record<string, string>): void {
    const int = (v: string | undefined): number => (v ? Number.parseInt(v, 10) || 0 : 0);
    this.state = (h.state as WorkerState | undefined) ?? null;
    this.currentJobId = h.current_job || null;
    this.lastHeartbeat = utcparse(h.last_heartbeat);
    this.birthDate = utcparse(h.birth);
    this.deathDate = utcparse(h.death);
    this.successfulJobCount = int(h.successful_job_count);
    this.failedJobCount = int(h.failed_job_count);
    this.totalWorkingTime = h.total_working_time ? Number(h.total_working_time) || 0 : 0;
    // rq shows what the hash says, not this machine's name.
    this.hostname = h.hostname ?? '';
    this.pid = int(h.pid);
    this.ipAddress = h.ip_address ?? 'unknown';
    this.version = h.version ?? '';
    this.pythonVersion = h.python_version ?? '';
  }

  /**
   * The worker registered under `rq:worker:<name>`, or null if there is no such hash. A key left in
   * `rq:workers` without its hash is removed from the set, as rq does.
   */
  static async findByKey<W extends Worker>(
    this: new (queues: string[], options: WorkerOptions) => W,
    workerKey: string,
    options: { connection: Redis; jobClass?: JobClass; queueClass?: QueueClass; serializer?: Serializer },
  ): Promise<W | null> {
    const keys = keysOf(options.connection);
    const name = keys.workerNameFromKey(workerKey);
    if (name === null) throw new RqError(`Not a worker key: ${JSON.stringify(workerKey)} (expected ${keys.workerKeyPrefix}<name>)`);
    const h = await options.connection.hgetall(workerKey);
    if (Object.keys(h).length === 0) {
      await options.connection.srem(keys.workers, workerKey);
      return null;
    }
    const queueNames = (h.queues ?? '').split(',').filter((q) => q.length > 0);
    const worker = new this(queueNames.length > 0 ? queueNames : ['default'], { ...options, name, installSignalHandlers: false });
    worker.loadHash(h);
    return worker;
  }

  /** Every registered worker, or those listening on `queue`. */
  static async all<W extends Worker>(
    this: (new (queues: string[], options: WorkerOptions) => W) & typeof Worker,
    options: { connection?: Redis; queue?: Queue; jobClass?: JobClass; serializer?: Serializer },
  ): Promise<W[]> {
    const connection = options.connection ?? options.queue?.connection;
    if (!connection) throw new RqError('Worker.all needs { connection } or { queue }');
    const keys = keysOf(connection);
    const workerKeys = await connection.smembers(options.queue ? keys.workersOf(options.queue.name) : keys.workers);
    const found = await Promise.all(workerKeys.sort().map((k) => this.findByKey(k, { ...options, connection })));
    return found.filter((w): w is Awaited<W> => w !== null) as W[];
  }

  /** How many workers are registered (or listen on `queue`): one SCARD, no scan. */
  static async count(options: { connection?: Redis; queue?: Queue }): Promise<number> {
    const connection = options.connection ?? options.queue?.connection;
    if (!connection) throw new RqError('Worker.count needs { connection } or { queue }');
    const keys = keysOf(connection);
    return connection.scard(options.queue ? keys.workersOf(options.queue.name) : keys.workers);
  }
}

function positive(n: number, what: string): number {
  if (!Number.isFinite(n) || n <= 0) throw new RqError(`Invalid ${what} ${String(n)}: expected a positive number`);
  return n;
}

function wholePositive(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RqError(`Invalid ${what} ${String(n)}: expected a whole number >= 1`);
  return n;
}

function nonNegative(n: number, what: string, allowMinusOne: boolean): number {
  if (!Number.isInteger(n) || (n < 0 && !(allowMinusOne && n === -1))) {
    throw new RqError(`Invalid ${what} ${String(n)}: expected a whole number >= 0${allowMinusOne ? ', or -1 for no expiry' : ''}`);
  }
  return n;
}
