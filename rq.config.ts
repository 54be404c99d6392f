/**
 * rq-ts's own example config, found by `rq worker` when run from this folder (cosmiconfig looks for
 * rq.config.ts, .rqrc*, package.json#rq from the current directory up to the project root).
 * Every key is documented in docs/configuration.md; flags on the command line win over these.
 */
import { defineConfig } from './lib/config.js';

export default defineConfig({
  // REDIS_URL: 'redis://localhost:6379/0',
  QUEUES: ['high', 'default', 'low'],
  // Modules the work horse imports once, before its first job.
  PRELOAD: [],
  LOG_FORMAT: '%(asctime)s %(message)s',
  DATE_FORMAT: '%H:%M:%S',
});
