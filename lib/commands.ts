import type { Redis } from 'ioredis';
import { InvalidOperationError } from './errors/InvalidOperationError.js';
import { Job } from './Job.js';
import { keysOf } from './redis/connection.js';
import { pythonJsonDumps } from './serializers.js';

/** rq's text for a job stopped with the stop-job command (its exc_info, and the reason its horse was killed). */
export const STOPPED_TEXT = 'Job stopped by user, work-horse terminated.';

/** The commands rq workers take on `rq:pubsub:<name>` (rq-wire-protocol.md §4.14). */
export type WorkerCommand = 'shutdown' | 'kill-horse' | 'stop-job';

/**
 * Publishes a command to a worker (Python's or ours); resolves to the number of listeners. On a Redis
 * Cluster the message reaches every node but the count is of the listeners on the node that took the
 * PUBLISH only, so 0 there does not mean nobody heard it.
 */
export async function sendCommand(connection: Redis, workerName: string, command: WorkerCommand, payload: Record<string, string> = {}): Promise<number> {
  return connection.publish(keysOf(connection).pubsub(workerName), pythonJsonDumps({ command, ...payload }));
}

/** Asks a worker to stop after its current job (warm shutdown). */
export function sendShutdownCommand(connection: Redis, workerName: string): Promise<number> {
  return sendCommand(connection, workerName, 'shutdown');
}

/** Kills a worker's work horse (its current job fails as a terminated horse); the worker goes on. */
export function sendKillHorseCommand(connection: Redis, workerName: string): Promise<number> {
  return sendCommand(connection, workerName, 'kill-horse');
}

/**
 * Stops a running job: its worker kills the horse and the job ends with status `stopped`.
 * Throws InvalidOperationError if the job is not running.
 */
export async function sendStopJobCommand(connection: Redis, jobId: string): Promise<number> {
  const job = await Job.fetch(jobId, { connection });
  if (job.status !== 'started' || !job.workerName) {
    throw new InvalidOperationError(`Job ${jobId} is not currently executing (status ${job.status ?? 'unknown'}), so it cannot be stopped`);
  }
  return sendCommand(connection, job.workerName, 'stop-job', { job_id: jobId });
}
