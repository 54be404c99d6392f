import type { RqPlugin, Worker } from '../lib/Worker.js';
import { CleanupPlugin } from './CleanupPlugin.js';
import { CommandsPlugin } from './CommandsPlugin.js';
import { DequeuePlugin } from './DequeuePlugin.js';
import { ExceptionHandlersPlugin } from './ExceptionHandlersPlugin.js';
import { ExecutePlugin } from './ExecutePlugin.js';
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
 * role `horse` only performs.
 */
export function defaultPlugins(worker: Worker, horse: 'process' | 'inline'): RqPlugin[] {
  if (worker.role === 'horse') return [new ExecutePlugin()];
  return [
    new ProcessTitlePlugin(),
    new RegistrationPlugin(),
    new CommandsPlugin(),
    ...(worker.withScheduler ? [new SchedulerPlugin()] : []),
    new MaintenancePlugin(),
    new DequeuePlugin(),
    horse === 'process' ? new ProcessHorsePlugin() : new InlineHorsePlugin(),
    new PerformPlugin(),
    new CleanupPlugin(),
    new LoggingPlugin(),
    new ExceptionHandlersPlugin(),
  ];
}
