/**
 * A custom worker script (the seed's performance note): import what the jobs need once, then start
 * the worker. With `SimpleWorker` the jobs run in this very process, so the imports below are paid
 * once for the life of the worker. With `Worker`, give the same modules to the horse with `preload`
 * (or PRELOAD in the config / `--preload` on the command line): each new horse imports them before
 * its first job.
 *
 *   node dist/examples/preloaded-worker.js [queues...]
 */
import { connect, SimpleWorker, Worker } from '../lib/index.js';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as heavy from './heavy-module.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const queues = process.argv.slice(2);
const connection = connect(process.env.REDIS_URL ?? 'redis://localhost:6379/0');
console.log(`preloaded ${heavy.name} (${heavy.table.length} entries) in the worker`);

const Cls = process.env.SIMPLE ? SimpleWorker : Worker;
const worker = new Cls(queues.length > 0 ? queues : ['default'], {
  connection,
  paths: [root],
  horse: { preload: ['examples/heavy-module.ts'] },
});
await worker.work({ burst: Boolean(process.env.BURST) });
connection.disconnect();
