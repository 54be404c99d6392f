import type { RqPlugin, Worker } from '../lib/Worker.js';
import { CleanupPlugin } from './CleanupPlugin.js';
import { CommandsPlugin } from './CommandsPlugin.js';
import { DequeuePlugin } from './DequeuePlugin.js';
import { ExceptionHandlersPlugin } from './ExceptionHandlersPlugin.js';
import { ExecutePlugin } from './ExecutePlugin.js';
import { HorseLoopPlugin } from './HorseLoopPlugin.js';
import { InlineHorsePlugin } from './InlineHorsePlugin.js';
import { LoggingPlugin } from './LoggingPlugin.js';
import { MaintenancePlugin } from './MaintenancePlugin.js';
import { PerformPlugin } from './PerformPlugin.js';
import { ProcessHorsePlugin } from './ProcessHorsePlugin.js';
import { ProcessTitlePlugin } from './ProcessTitlePlugin.js';
import { RegistrationPlugin } from './RegistrationPlugin.js';
import { SchedulerPlugin } from './SchedulerPlugin.js';
import { SentryPlugin } from './SentryPlugin.js';

export {
  CleanupPlugin,
  CommandsPlugin,
  DequeuePlugin,
  ExceptionHandlersPlugin,
  ExecutePlugin,
  HorseLoopPlugin,
  InlineHorsePlugin,
  LoggingPlugin,
  MaintenancePlugin,
  PerformPlugin,
  ProcessHorsePlugin,
  ProcessTitlePlugin,
  RegistrationPlugin,
  SchedulerPlugin,
  SentryPlugin,
};

/**
 * The built-in plugins, in the order they are applied (after the user's). `process`: jobs run in
 * a warm horse process (Worker); `inline`: in the worker's own process (SimpleWorker). A worker in
 * role `horse` only performs, unless it takes its own jobs (`horseLoop`): then it runs every
 * stage of a job as SimpleWorker does, and its worker supervises it.
 */
export function defaultPlugins(worker: Worker, horse: 'process' | 'inline'): RqPlugin[] {
  const perJob = (): RqPlugin[] => [new PerformPlugin(), new CleanupPlugin(), new LoggingPlugin(), new ExceptionHandlersPlugin()];
  // Where failures are recorded: the worker process, and a horse that takes its own jobs.
  const sentry = worker.sentry ? [new SentryPlugin(worker.sentry)] : [];
  if (worker.role === 'horse') {
    return worker.horseLoop ? [new ProcessTitlePlugin(), new DequeuePlugin(), new InlineHorsePlugin(), ...perJob(), ...sentry] : [new ExecutePlugin()];
  }
  const supervision = [
    new ProcessTitlePlugin(),
    new RegistrationPlugin(),
    new CommandsPlugin(),
    ...(worker.withScheduler ? [new SchedulerPlugin()] : []),
    new MaintenancePlugin(),
    ...sentry,
  ];
  if (worker.horseLoop) {
    // Cleanup, logging and the exception handlers stay: the worker records the job of a horse that died.
    return [...supervision, new HorseLoopPlugin(), new CleanupPlugin(), new LoggingPlugin(), new ExceptionHandlersPlugin()];
  }
  return [...supervision, new DequeuePlugin(), horse === 'process' ? new ProcessHorsePlugin() : new InlineHorsePlugin(), ...perJob()];
}
