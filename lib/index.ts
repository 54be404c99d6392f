// The package entry hands out Workers with the built-in plugins: it is one of the edges that apply them
// (with the CLI and the horse process); the rest of lib/ never imports plugins/.
import { builtinPlugins } from '../plugins/index.js';
import { useBuiltins } from './Worker.js';

useBuiltins(builtinPlugins);

export * from './errors/index.js';
export { DEFAULT_FAILURE_TTL, DEFAULT_RESULT_TTL, DEFAULT_TIMEOUT, Job, JobStatus, parseTimeout, validateJobId } from './Job.js';
export type { CreateJobOptions, JobConnectionOptions, JobHash, Retry, WaitForResultOptions } from './Job.js';
export { Queue, validateQueueName, type EnqueueCallOptions, type JobClass, type QueueOptions } from './Queue.js';
export { Result, ResultType } from './Result.js';
export { TypedQueue, typedQueue, type TaskArgs, type TaskName, type TaskResult, type TypedCallOptions, type TypedJob } from './TypedQueue.js';
export { QueueEvents, type CompletedEvent, type FailedEvent, type ProgressEvent, type QueueEventMap, type QueueEventsOptions } from './QueueEvents.js';
export * from './registries/index.js';
export * from './redis/index.js';
export { JSONSerializer, defaultSerializer, pythonJsonDumps, type Serializer } from './serializers.js';
export { callString, pyrepr } from './pyrepr.js';
export { epochSeconds, utcformat, utcparse } from './time.js';
export { defineConfig, loadConfig, CONFIG_KEYS, type RqConfig, type SentinelConfig } from './config.js';
export { Worker, useBuiltins, type BuiltinPlugins, type SentryOptions, type ExceptionHandler, type HorseOptions, type QueueClass, type RqPlugin, type WorkOptions, type WorkerOptions, type WorkerRole, type WorkerState } from './Worker.js';
export { SimpleWorker } from './SimpleWorker.js';
export { createHooks, type Horse, type Outcome, type WorkerHooks } from './hooks.js';
export { getCurrentJob, callJobFunction, formatException, resolveJobFunction } from './execute.js';
export * from './timeouts/index.js';
export { resolveDotted, importModule, instantiatePlugin, registerBuiltin, type ResolveOptions } from './resolve.js';
export { createLogger, strftime, formatRecord, DEFAULT_DATE_FORMAT, DEFAULT_LOG_FORMAT, type Logger, type LoggerOptions, type LogLevel } from './logging.js';
export { ProcessHorse, terminatedText } from './horse/ProcessHorse.js';
export { InlineHorse } from './horse/InlineHorse.js';
export { sendCommand, sendKillHorseCommand, sendShutdownCommand, sendStopJobCommand, type WorkerCommand } from './commands.js';
export { enqueueDependents } from './dependencies.js';
export { Scheduler, enqueueScheduledJobs, SCHEDULER_LOCK_TTL } from './scheduler.js';
export { CronScheduler, cron, type CronEntry, type CronEntryOptions, type CronSchedulerOptions } from './CronScheduler.js';
export { WorkerPool, type WorkerPoolOptions } from './WorkerPool.js';
export { Lookahead } from './Lookahead.js';
export { JobEngine } from './JobEngine.js';
export { HorseSupervisor } from './horse/HorseSupervisor.js';
export { RQ_TS_VERSION } from './version.js';
export { STOPPED_TEXT } from './commands.js';

