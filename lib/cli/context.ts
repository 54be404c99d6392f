/**
 * What every command but `rq worker` sets up the same way: settings (flag > config file >
 * environment), the classes named by --queue-class/--job-class/--worker-class and the serializer,
 * resolved before connecting (so a bad path is a usage error even when Redis is down), then a
 * checked connection.
 */
import type { Redis } from 'ioredis';
import { UsageError } from '../errors/UsageError.js';
import { Job } from '../Job.js';
import { Queue, type JobClass, type QueueOptions } from '../Queue.js';
import { keysOf } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { RegistryOptions } from '../registries/BaseRegistry.js';
import { resolveDotted } from '../resolve.js';
import type { Serializer } from '../serializers.js';
import { Worker, type QueueClass } from '../Worker.js';
import { connectChecked, loadSettings, resolveSerializer, type SharedFlags } from './shared.js';

export interface CliContext {
  connection: Redis;
  keys: Keys;
  queueClass: QueueClass;
  workerClass: typeof Worker;
  jobClass: JobClass | undefined;
  serializer: Serializer | undefined;
  /** Options for `new queueClass(name, ...)` and `queueClass.all(...)`. */
  queueOptions(): QueueOptions;
  /** Options for a registry of this connection, job class and serializer. */
  registryOptions(): RegistryOptions;
  close(): void;
}

function checkSubclass(value: unknown, base: abstract new (...args: never[]) => unknown, flag: string, path: string, what: string): void {
  if (typeof value !== 'function' || (value !== base && !(value.prototype instanceof base))) {
    const name = typeof value === 'function' ? value.name : typeof value;
    throw new UsageError(`${flag} ${path}: ${name} does not extend rq-ts's ${what}`);
  }
}

/**
 * `live`: the connection waits out a Redis restart (for `rq info -i`); otherwise a command whose
 * Redis goes away mid-way fails after a few retries instead of hanging.
 */
export async function openCli(flags: SharedFlags, options: { live?: boolean } = {}): Promise<CliContext> {
  const warn = (line: string): void => void process.stderr.write(`${line}\n`);
  const settings = await loadSettings(flags, warn);
  const c = settings.config;
  const where = settings.resolve;
  let queueClass: QueueClass = Queue;
  if (c.QUEUE_CLASS) {
    queueClass = (await resolveDotted(c.QUEUE_CLASS, where, 'class', '--queue-class')) as QueueClass;
    checkSubclass(queueClass, Queue, '--queue-class', c.QUEUE_CLASS, 'Queue');
  }
  let jobClass: JobClass | undefined;
  if (c.JOB_CLASS) {
    jobClass = (await resolveDotted(c.JOB_CLASS, where, 'class', '--job-class')) as JobClass;
    checkSubclass(jobClass, Job, '--job-class', c.JOB_CLASS, 'Job');
  }
  let workerClass: typeof Worker = Worker;
  if (c.WORKER_CLASS) {
    workerClass = (await resolveDotted(c.WORKER_CLASS, where, 'class', '--worker-class')) as typeof Worker;
    checkSubclass(workerClass, Worker, '--worker-class', c.WORKER_CLASS, 'Worker');
  }
  const serializer = await resolveSerializer(settings);
  const connection = await connectChecked(settings, options.live ? {} : { maxRetriesPerRequest: 3 });
  return {
    connection,
    keys: keysOf(connection),
    queueClass,
    workerClass,
    jobClass,
    serializer,
    queueOptions() {
      const o: QueueOptions = { connection };
      if (jobClass) o.jobClass = jobClass;
      if (serializer) o.serializer = serializer;
      return o;
    },
    registryOptions() {
      const o: RegistryOptions = { connection };
      if (jobClass) o.jobClass = jobClass;
      if (serializer) o.serializer = serializer;
      return o;
    },
    close() {
      connection.disconnect();
    },
  };
}
