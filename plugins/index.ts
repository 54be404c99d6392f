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
import { PreparePlugin } from './PreparePlugin.js';
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
  PreparePlugin,
  ProcessHorsePlugin,
  ProcessTitlePlugin,
  RegistrationPlugin,
  SchedulerPlugin,
  SentryPlugin,
};

/**
 * The job engine's stages (see lib/JobEngine.ts), where it runs: SimpleWorker's process, a horse that
 * takes its own jobs, or a Worker whose horse cannot. The fork stage hands out a horse process only
 * when this process is a worker whose horse runs each job it is sent.
 */
function jobStages(worker: Worker): RqPlugin[] {
  const fork = worker.role === 'worker' && worker.horseKind === 'process' ? new ProcessHorsePlugin() : new InlineHorsePlugin();
  return [new DequeuePlugin(), new PreparePlugin(), fork, new PerformPlugin(), new CleanupPlugin(), new LoggingPlugin(), new ExceptionHandlersPlugin()];
}

/**
 * The assembly of the built-in plugins, in the order they are applied (after the user's): the one
 * place that decides which plugin runs in which process, so that the plugins need not ask. The edges
 * register it with useBuiltins (lib/index.ts, the CLI, the horse process).
 * - A worker process: its registration, commands, scheduler and maintenance; then the job stages
 *   if the engine runs here, else (its horse takes its own jobs) the cleanup and exception stages
 *   with which it records the job of a horse that died.
 * - A horse that takes its own jobs: the job stages. One that is sent each job: only the function call.
 * Sentry reports failures wherever they are recorded.
 */
export function builtinPlugins(worker: Worker): RqPlugin[] {
  const sentry = worker.sentry ? [new SentryPlugin(worker.sentry)] : [];
  if (worker.role === 'horse') return worker.runsJobs ? [new ProcessTitlePlugin(), ...jobStages(worker), ...sentry] : [new ExecutePlugin()];
  const own = [
    new ProcessTitlePlugin(),
    new RegistrationPlugin(),
    new CommandsPlugin(),
    ...(worker.withScheduler ? [new SchedulerPlugin()] : []),
    new MaintenancePlugin(),
    ...sentry,
  ];
  if (worker.runsJobs) return [...own, ...jobStages(worker)];
  return [...own, new CleanupPlugin(), new LoggingPlugin(), new ExceptionHandlersPlugin()];
}
