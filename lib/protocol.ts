import { randomUUID } from 'node:crypto';
import type { Job } from './Job.js';
import type { Keys } from './redis/keys.js';
import type { Worker } from './Worker.js';

/**
 * Which python-rq wire protocol a worker writes when it claims a job (RQ_PROTOCOL):
 * 1 — rq 1.13's: the StartedJobRegistry member is the bare job id, no execution keys.
 * 2 — rq 2.x's: each claim is an execution (`rq:execution:<job>:<exec>` hash, `rq:executions:<job>`
 *     sorted set) and the member is `<job>:<exec>`, so 2.x's `job.get_executions()` sees rq-ts's runs.
 * 'auto' — 2 only when no rq 1.x Python worker is registered: rq 1.13's StartedJobRegistry cleanup
 *     reads a composite member as a job id that does not exist and drops it, so a job of a worker
 *     that died would be lost instead of failed. Decided when the job engine starts and again every
 *     maintenanceInterval.
 * rq-ts reads both forms everywhere, whatever it writes. The default is 1: every rq reads it (2.x
 * with a DeprecationWarning), while 'auto' cannot see a python-rq 1.x cleanup that runs without a
 * registered worker (a script, a dashboard) or a 1.x worker that joins between two decisions.
 */
export type Protocol = 1 | 2 | 'auto';

/** A new execution id, as rq 2.x's Execution.create (uuid4 hex). */
export function newExecutionId(): string {
  return randomUUID().replace(/-/g, '');
}

/**
 * The execution keys a script that starts or ends job `id` takes (claim, outcome, unclaim): the run's
 * hash and the job's executions set under protocol 2; under 1 (`execId` '') a placeholder that the
 * script never touches, since every call of a script takes the same KEYS.
 */
export function executionKeys(keys: Keys, id: string, execId: string): { execution: string; executions: string } {
  if (!execId) {
    const none = keys.job('-');
    return { execution: none, executions: none };
  }
  return { execution: keys.execution(`${id}:${execId}`), executions: keys.executions(id) };
}

const executions = new WeakMap<Job, string>();

/** The execution id `job` was claimed under by this process ('' when its registry member is the bare id). */
export function executionOf(job: Job): string {
  return executions.get(job) ?? '';
}

export function setExecution(job: Job, execId: string): void {
  if (execId) executions.set(job, execId);
  else executions.delete(job);
}

/** The StartedJobRegistry member of a claim: `<id>:<exec>` (protocol 2) or the bare id. */
export function startedMember(id: string, execId: string): string {
  return execId ? `${id}:${execId}` : id;
}

/**
 * Protocol 'auto': the registered workers (rq:workers) that would misread composite members, named
 * by the reason. A worker counts as python-rq 1.x when its hash's `version` is below 2 (or absent: rq
 * before 1.0 wrote none) and it is not rq-ts (rq-ts writes `python_version` as `node <version>`).
 */
export async function oldPythonWorkers(w: Worker): Promise<string[]> {
  const keys = w.keys;
  const names = await w.connection.smembers(keys.workers);
  const others = names.filter((k) => k !== w.key);
  if (others.length === 0) return [];
  const pipe = w.connection.pipeline();
  for (const k of others) pipe.hmget(k, 'version', 'python_version', 'birth');
  const replies = (await pipe.exec()) ?? [];
  const old: string[] = [];
  replies.forEach(([err, fields], i) => {
    if (err) return;
    const [version, pythonVersion, birth] = fields as (string | null)[];
    // A member whose hash is gone is a dead worker: maintenance drops it.
    if (version === null && pythonVersion === null && birth === null) return;
    if (pythonVersion?.startsWith('node ')) return;
    const major = Number(/^(\d+)\./.exec(version ?? '')?.[1] ?? 0);
    if (major < 2) old.push(`${others[i]!.slice(keys.worker('').length)} (python-rq ${version ?? 'without a version'})`);
  });
  return old;
}

/** What protocol `w` writes now, and why (for the log). */
export async function decideProtocol(w: Worker): Promise<{ executions: boolean; why: string }> {
  if (w.protocol !== 'auto') return { executions: w.protocol === 2, why: `RQ_PROTOCOL is ${w.protocol}` };
  const old = await oldPythonWorkers(w);
  if (old.length > 0) {
    const shown = old.slice(0, 3).join(', ') + (old.length > 3 ? ` and ${old.length - 3} more` : '');
    return { executions: false, why: `RQ_PROTOCOL is auto and python-rq 1.x workers are registered: ${shown}; their cleanup cannot read rq 2.x's composite StartedJobRegistry members` };
  }
  return { executions: true, why: 'RQ_PROTOCOL is auto and no python-rq 1.x worker is registered' };
}
