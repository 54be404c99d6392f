import type { Worker } from './Worker.js';

/** Sleeps `ms`, or less if `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * `rq suspend` (the key `rq:suspended`, checked by the take script before each job): the worker
 * sets its state `suspended` and checks again every second until `rq resume` or a stop; in burst
 * mode it stops instead. Returns false when the worker should stop.
 */
export async function waitWhileSuspended(w: Worker): Promise<boolean> {
  if (w.burst) {
    w.requestStop('Suspended in burst mode, exiting');
    return false;
  }
  w.logger.warning('Worker suspended, run "rq resume" to resume');
  await w.connection.hset(w.key, 'state', 'suspended');
  w.state = 'suspended';
  while (!w.stopRequested && (await w.connection.exists(w.keys.suspended))) {
    await w.connection.expire(w.key, w.workerTtl + 60);
    await sleep(1000, w.stopSignal);
  }
  if (w.stopRequested) return false;
  w.logger.info('Worker resumed');
  await w.connection.hset(w.key, 'state', 'idle');
  w.state = 'idle';
  return true;
}
