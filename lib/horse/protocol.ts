import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { LoggerSettings } from '../logging.js';
import type { SentryPluginOptions } from '../../plugins/SentryPlugin.js';

/** The name a horse's Redis connections carry (CLIENT SETNAME), so that its worker can tell when Redis has let go of them. */
export const horseConnectionName = (pid: number): string => `rq-horse-${pid}`;

/** The worker's settings a horse that takes its own jobs needs to run them as the worker would. */
export interface LoopSpec {
  resultTtl: number;
  workerTtl: number;
  jobMonitoringInterval: number;
  disableDefaultExceptionHandler: boolean;
  disableJobDescLogging: boolean;
  logger: LoggerSettings;
  /** Dotted paths of the exception handlers. */
  exceptionHandlers: string[];
  /** Report the horse's job failures to Sentry. */
  sentry?: SentryPluginOptions;
  /** Replace the horse when its resident memory passes this many MiB after a job. */
  maxMemoryMb?: number;
}

/** What a horse process needs to rebuild its worker (in role `horse`): sent once over IPC, never in argv/env. */
export interface HorseSpec {
  workerName: string;
  queues: string[];
  paths: string[];
  cwd: string;
  plugins: string[];
  preload: string[];
  workerClass?: string;
  jobClass?: string;
  queueClass?: string;
  connectionClass?: string;
  serializer?: string;
  allowedModules?: string[];
  callbackTimeout: number;
  /** Report resident memory after each job (only when the worker has a memory ceiling: reading it is a system call). */
  reportRss?: boolean;
  redis: {
    host?: string;
    port?: number;
    path?: string;
    db?: number;
    username?: string;
    password?: string;
    tls?: TlsOptions;
    /** Sentinel deployments: where the sentinels are and the master's name. */
    sentinels?: { host: string; port: number }[];
    name?: string;
  };
  prefix: string;
  /** Set when the horse takes its own jobs (HorseOptions.loop). */
  loop?: LoopSpec;
}

/** An outcome as it crosses the IPC channel (errors as text, return values already serialized). */
export type WireOutcome =
  | { status: 'finished'; serialized: Uint8Array | null }
  | { status: 'failed'; name: string; message: string; excString: string };

export type ToHorse =
  | { t: 'init'; spec: HorseSpec }
  | { t: 'job'; id: string; hash: Record<string, string | Uint8Array> }
  | { t: 'exit' }
  /** Take and run jobs until the queues are empty (burst), `maxJobs` jobs are done, or 'stop'. */
  | { t: 'loop'; burst: boolean; maxJobs: number | null }
  /** Finish the current job, give back the jobs taken ahead, and end the loop. */
  | { t: 'stop' };

/** How a horse's loop ended: what it did, and why it stopped taking jobs when its worker did not ask it to. */
export interface LoopReport {
  jobs: number;
  successful: number;
  failed: number;
  workingTime: number;
  /**
   * Why the horse must be replaced (a job was left running past its timeout, the memory ceiling was
   * passed), worded to follow "Replacing the work horse (pid N) "; null when it need not be.
   */
  replace: string | null;
}

export type FromHorse =
  | { t: 'ready'; pid: number }
  | { t: 'init-error'; message: string; excString: string }
  | { t: 'done'; id: string; outcome: WireOutcome; rss: number | null }
  | ({ t: 'looped' } & LoopReport);
