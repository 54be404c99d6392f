import { RqError } from '../errors/RqError.js';
import type { Queue } from '../Queue.js';
import type { BaseRegistry, RegistryOptions } from './BaseRegistry.js';
import { CanceledJobRegistry } from './CanceledJobRegistry.js';
import { DeferredJobRegistry } from './DeferredJobRegistry.js';
import { FailedJobRegistry } from './FailedJobRegistry.js';
import { FinishedJobRegistry } from './FinishedJobRegistry.js';
import { ScheduledJobRegistry } from './ScheduledJobRegistry.js';
import { StartedJobRegistry } from './StartedJobRegistry.js';

/** Where a queue's jobs can be: its waiting list (`queued`) and its six registries, in rq-dashboard's order. */
export const REGISTRY_NAMES = ['queued', 'started', 'scheduled', 'deferred', 'finished', 'failed', 'canceled'] as const;
export type RegistryName = (typeof REGISTRY_NAMES)[number];
export type RegistryCounts = Record<RegistryName, number>;

const CLASSES = {
  started: StartedJobRegistry,
  scheduled: ScheduledJobRegistry,
  deferred: DeferredJobRegistry,
  finished: FinishedJobRegistry,
  failed: FailedJobRegistry,
  canceled: CanceledJobRegistry,
} as const;

/** A registry name from user input (CLI flag, URL), or an error listing the names allowed. */
export function parseRegistryName(value: string): RegistryName {
  const name = (REGISTRY_NAMES as readonly string[]).find((n) => n === value.toLowerCase());
  if (!name) throw new RqError(`Unknown registry "${value}": expected one of ${REGISTRY_NAMES.join(', ')}`);
  return name as RegistryName;
}

/** The registry `name` of queue `queue`. */
export function registryByName(name: Exclude<RegistryName, 'queued'>, queue: string, options: RegistryOptions): BaseRegistry {
  return new CLASSES[name](queue, options);
}

/**
 * Every count of a queue, each registry cleaned first as rq's `count` does (expired started jobs
 * move to failed before anything is counted, so a job is never counted twice).
 */
export async function countAll(queue: Queue, options: RegistryOptions): Promise<RegistryCounts> {
  const counts = { queued: await queue.count() } as RegistryCounts;
  for (const name of REGISTRY_NAMES) {
    if (name !== 'queued') counts[name] = await registryByName(name, queue.name, options).count();
  }
  return counts;
}

/**
 * One page of the job ids in `name` (waiting list head first; registries lowest score first, i.e.
 * oldest first) and how many there are in all. `limit` 0 or less = to the end.
 */
export async function pageOfJobIds(queue: Queue, name: RegistryName, offset: number, limit: number, options: RegistryOptions): Promise<{ total: number; ids: string[] }> {
  if (!Number.isInteger(offset) || offset < 0) throw new RqError(`Invalid offset ${String(offset)}: expected a whole number >= 0`);
  if (!Number.isInteger(limit)) throw new RqError(`Invalid limit ${String(limit)}: expected a whole number`);
  if (name === 'queued') {
    const [total, ids] = await Promise.all([queue.count(), queue.jobIds(offset, limit > 0 ? limit : -1)]);
    return { total, ids };
  }
  const registry = registryByName(name, queue.name, options);
  const ids = await registry.getJobIds(offset, limit > 0 ? offset + limit - 1 : -1);
  return { total: await registry.count(false), ids };
}
