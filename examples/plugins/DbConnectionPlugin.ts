import type { RqPlugin, Worker } from '../../lib/index.js';

const PLUGIN_NAME = 'DbConnectionPlugin';

/**
 * Example plugin (docs/plugins.md): code that must run inside the work horse around each job, such
 * as opening and closing a database connection. Give it by dotted path (`--plugin
 * examples.plugins.DbConnectionPlugin.DbConnectionPlugin` or PLUGINS in the config) so the horse
 * applies it too; in the horse only `startup`, `perform` and `shutdown` fire.
 */
export class DbConnectionPlugin implements RqPlugin {
  apply(worker: Worker): void {
    if (worker.role !== 'horse') return;
    let open = 0;
    worker.hooks.perform.tapPromise({ name: PLUGIN_NAME, stage: -10 }, async (outcome) => {
      open++; // e.g. await pool.connect()
      console.log(`[horse ${process.pid}] db connection opened (${open})`);
      return outcome;
    });
    worker.hooks.perform.tapPromise({ name: PLUGIN_NAME, stage: 200 }, async (outcome) => {
      open--; // e.g. await client.release()
      console.log(`[horse ${process.pid}] db connection closed (${open})`);
      return outcome;
    });
  }
}
