import type { Worker } from '../lib/Worker.js';
import { RqError } from '../lib/errors/RqError.js';
import { registerDeath } from '../lib/registries/workerRegistry.js';
import { utcformat } from '../lib/time.js';
import { RQ_TS_VERSION } from '../lib/version.js';
import { untilAnswered } from '../lib/RedisOutage.js';

const PLUGIN_NAME = 'RegistrationPlugin';

/**
 * Birth and death of the worker in Redis (rq-wire-protocol.md §3, §4.11): the `rq:worker:<name>`
 * hash, `rq:workers`, `rq:workers:<q>`, key TTLs; a live worker of the same name is refused.
 */
export class RegistrationPlugin {
  apply(worker: Worker): void {
    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => {
      const { connection, keys } = w;
      const [exists, dead] = await connection.pipeline().exists(w.key).hexists(w.key, 'death').exec().then((r) => (r ?? []).map(([, v]) => v));
      if (exists && !dead) {
        throw new RqError(`There exists an active worker named '${w.name}' already`);
      }
      w.ipAddress = await clientAddress(w);
      const now = new Date();
      const ts = utcformat(now);
      const tx = connection.multi();
      tx.del(w.key);
      tx.hset(w.key, {
        birth: ts,
        last_heartbeat: ts,
        queues: w.queueNames.join(','),
        pid: String(w.pid),
        hostname: w.hostname,
        ip_address: w.ipAddress,
        version: RQ_TS_VERSION,
        python_version: `node ${process.version}`,
        state: 'started',
      });
      tx.sadd(keys.workers, w.key);
      for (const q of w.queueNames) tx.sadd(keys.workersOf(q), w.key);
      tx.expire(w.key, w.workerTtl + 60);
      await tx.exec();
      w.birthDate = now;
      w.lastHeartbeat = now;
      w.state = 'started';
      // rq marks a warm shutdown that has to wait for the current job.
      w.stopSignal.addEventListener(
        'abort',
        () => {
          const busy = w.runsJobs ? Promise.resolve(w.currentJob !== null) : w.connection.hget(w.key, 'current_job').then((id) => !!id);
          busy.then((b) => (b ? w.connection.hset(w.key, 'shutdown_requested_date', utcformat(new Date())) : 0)).catch((err: unknown) => {
            w.logger.warning(`Could not record the shutdown request: ${err instanceof Error ? err.message : String(err)}`);
          });
        },
        { once: true },
      );
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async (w) => {
      w.logger.info('Registering death.');
      if (!w.birthDate) return;
      // Waits out BUSY, LOADING, ... as the job writes do; bounded by the shutdown watch (SHUTDOWN_TIMEOUT).
      await untilAnswered(w, 'register the death of this worker', () => registerDeath(w.connection, w.key, w.queueNames));
      w.deathDate = new Date();
    });
  }
}

/** `ip_address` as rq writes it: our connection's `addr` in CLIENT LIST, found by name. */
async function clientAddress(worker: Worker): Promise<string> {
  try {
    await worker.connection.client('SETNAME', worker.name);
    const info = String(await worker.connection.client('INFO'));
    return /(?:^|\s)addr=(\S+)/.exec(info)?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
