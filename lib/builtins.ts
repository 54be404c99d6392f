import { registerBuiltin } from './resolve.js';

/** rq's own dotted names, answered by rq-ts's classes. */
const names: Record<string, () => Promise<unknown>> = {
  'rq.Worker': async () => (await import('./Worker.js')).Worker,
  'rq.worker.Worker': async () => (await import('./Worker.js')).Worker,
  'rq.SimpleWorker': async () => (await import('./SimpleWorker.js')).SimpleWorker,
  'rq.worker.SimpleWorker': async () => (await import('./SimpleWorker.js')).SimpleWorker,
  'rq.Queue': async () => (await import('./Queue.js')).Queue,
  'rq.queue.Queue': async () => (await import('./Queue.js')).Queue,
  'rq.job.Job': async () => (await import('./Job.js')).Job,
  'rq.Job': async () => (await import('./Job.js')).Job,
  'rq.timeouts.UnixSignalDeathPenalty': async () => (await import('./timeouts/TimerDeathPenalty.js')).TimerDeathPenalty,
  'rq.timeouts.TimerDeathPenalty': async () => (await import('./timeouts/TimerDeathPenalty.js')).TimerDeathPenalty,
  'rq.timeouts.InProcessDeathPenalty': async () => (await import('./timeouts/InProcessDeathPenalty.js')).InProcessDeathPenalty,
  'rq.timeouts.JobTimeoutException': async () => (await import('./timeouts/JobTimeoutException.js')).JobTimeoutException,
  'rq.serializers.JSONSerializer': async () => (await import('./serializers.js')).JSONSerializer,
  'rq.serializers.json': async () => (await import('./serializers.js')).JSONSerializer,
  'redis.Redis': async () => (await import('ioredis')).Redis,
  'redis.client.Redis': async () => (await import('ioredis')).Redis,
};

for (const [name, load] of Object.entries(names)) registerBuiltin(name, load);
