import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { LoggerSettings } from '../logging.js';
import type { WorkerSettings } from '../Worker.js';

/** The name a horse's Redis connections carry (CLIENT SETNAME), so that its worker can tell when Redis has let go of them. */
export const horseConnectionName = (pid: number): string => `rq-horse-${pid}`;

/**
 * What a horse process needs to rebuild its worker (in role `horse`): sent once over IPC, never in
 * argv/env. The worker's plain options travel as they are (`settings`); what is an object in the
 * worker process is rebuilt from the dotted paths in settings.horse.
 */
export interface HorseSpec {
  /** The worker's name (the horse records jobs under it). */
  workerName: string;
  queues: string[];
  cwd: string;
  settings: WorkerSettings;
  /** The horse takes, runs and records its own jobs (the job engine runs there). */
  loop: boolean;
  /** The worker's logger, when it is a createLogger() logger (the horse writes its own lines with it). */
  logger?: LoggerSettings;
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
    /** Redis Cluster deployments: the seed nodes. */
    cluster?: { host: string; port: number }[];
  };
  prefix: string;
}

/** An outcome as it crosses the IPC channel (errors as text, return values already serialized). */
export type WireOutcome =
  | { status: 'finished'; serialized: Uint8Array | null }
  | { status: 'failed'; name: string; message: string; excString: string };

export type ToHorse =
  | { t: 'init'; spec: HorseSpec }
  | { t: 'job'; id: string; hash: Record<string, string | Uint8Array> }
  | { t: 'exit' }
  /**
   * Take and run jobs until the queues are empty (burst), `maxJobs` jobs are done, or 'stop'. `log`:
   * log the jobs it runs directly to its fd 4 (lib/DirectLog.ts) and group their outcomes.
   */
  | { t: 'loop'; burst: boolean; maxJobs: number | null; log: boolean }
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
