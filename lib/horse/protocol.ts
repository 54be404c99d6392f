import type { ConnectionOptions as TlsOptions } from 'node:tls';

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
}

/** An outcome as it crosses the IPC channel (errors as text, return values already serialized). */
export type WireOutcome =
  | { status: 'finished'; serialized: Uint8Array | null }
  | { status: 'failed'; name: string; message: string; excString: string };

export type ToHorse =
  | { t: 'init'; spec: HorseSpec }
  | { t: 'job'; id: string; hash: Record<string, string | Uint8Array> }
  | { t: 'exit' };

export type FromHorse =
  | { t: 'ready'; pid: number }
  | { t: 'init-error'; message: string; excString: string }
  | { t: 'done'; id: string; outcome: WireOutcome; rss: number | null };
