import type { Redis } from 'ioredis';
import type { Worker } from '../lib/Worker.js';
import { STOPPED_TEXT } from '../lib/commands.js';
import { duplicateConnection } from '../lib/redis/connection.js';

const PLUGIN_NAME = 'CommandsPlugin';

/**
 * Listens on `rq:pubsub:<worker name>` for rq's commands (sent by rq-ts's send*Command functions or
 * by python-rq's `send_*_command`): `shutdown` = warm shutdown; `kill-horse` = kill the current
 * job's horse; `stop-job` with the current job's id = kill the horse, job status `stopped`.
 */
export class CommandsPlugin {
  apply(worker: Worker): void {
    let subscriber: Redis | null = null;
    let stopJobId: string | null = null;
    // A command for the current job that came before its horse was handed out (prepare, fork):
    // carried out when the job reaches the perform stage.
    let early: { jobId: string; reason: string } | null = null;

    const killCurrent = (w: Worker, reason: string): void => {
      if (!w.currentJobId) return;
      if (w.horse) w.horse.kill(reason);
      else early = { jobId: w.currentJobId, reason };
    };

    // When the job engine runs in the horse, only Redis knows which job it runs (the worker's hash names it).
    const runningJob = async (w: Worker): Promise<string | null> => (w.runsJobs ? w.currentJobId : (await w.connection.hget(w.key, 'current_job')) || null);
    const onJobCommand = async (w: Worker, command: 'kill-horse' | 'stop-job', jobId: unknown): Promise<void> => {
      const current = await runningJob(w);
      if (command === 'kill-horse') {
        w.logger.info('Received kill horse command');
        if (!current) return;
        if (!w.runsJobs) w.horse?.kill('killed by the kill-horse command');
        else killCurrent(w, 'killed by the kill-horse command');
        return;
      }
      if (typeof jobId !== 'string') return;
      // Concurrent jobs run here: any of them can be stopped, alone (its own horse).
      const concurrent = w.runsJobs && w.concurrency > 1 ? w.engine.horseOf(jobId) : null;
      if (concurrent) {
        w.logger.info(`Received stop job command for ${jobId}`);
        stopJobId = jobId;
        concurrent.kill(STOPPED_TEXT);
        return;
      }
      if (jobId !== current) return;
      w.logger.info(`Received stop job command for ${jobId}`);
      if (!w.runsJobs) {
        // The HorseSupervisor records the job as stopped when the horse was killed with this reason.
        w.horse?.kill(STOPPED_TEXT);
        return;
      }
      stopJobId = jobId;
      killCurrent(w, STOPPED_TEXT);
    };

    worker.hooks.register.tapPromise(PLUGIN_NAME, async (w) => {
      // ioredis's own resubscribe after a reconnect has no rejection handler: a shutdown that closes the
      // connection while it is in flight crashed the worker ("Connection is closed."). This one has.
      const sub = duplicateConnection(w.connection, { maxRetriesPerRequest: null, autoResubscribe: false });
      subscriber = sub;
      const channel = w.keys.pubsub(w.name);
      let subscribed = false;
      sub.on('ready', () => {
        if (!subscribed) return;
        sub.subscribe(channel).catch((err: unknown) => {
          if (subscriber === sub) w.logger.warning(`Could not subscribe again to ${channel}: ${err instanceof Error ? err.message : String(err)}`);
        });
      });
      sub.on('error', () => {});
      sub.on('message', (_channel: string, raw: string) => {
        let message: { command?: unknown; job_id?: unknown };
        try {
          message = JSON.parse(raw) as typeof message;
        } catch {
          w.logger.warning(`Ignored a command that is not JSON: ${raw.slice(0, 80)}`);
          return;
        }
        switch (message.command) {
          case 'shutdown':
            w.requestStop('Received shutdown command, warm shut down requested');
            break;
          case 'kill-horse':
          case 'stop-job':
            onJobCommand(w, message.command, message.job_id).catch((err: unknown) =>
              w.logger.warning(`Could not carry out the ${String(message.command)} command: ${err instanceof Error ? err.message : String(err)}`),
            );
            break;
          default:
            w.logger.warning(`Ignored an unknown command: ${raw.slice(0, 80)}`);
        }
      });
      await sub.subscribe(channel);
      subscribed = true;
      w.logger.debug(`Subscribed to channel ${channel}`);
    });

    // Before the default perform: a job whose kill came early does not run at all.
    // Synchronous taps: nothing is awaited, and a promise tap costs every job three promises.
    worker.hooks.perform.tap({ name: PLUGIN_NAME, stage: -50 }, (outcome, job) => {
      if (!early || early.jobId !== job.id || outcome.status !== 'pending') return outcome;
      const reason = early.reason;
      early = null;
      const error = new Error(`Job killed before it started running: ${reason}`);
      return { status: 'failed', error, excString: `${error.name}: ${error.message}`, endedAt: new Date() };
    });

    // After the default perform: a job killed by stop-job ends as `stopped`, with rq's text.
    worker.hooks.perform.tap({ name: PLUGIN_NAME, stage: 150 }, (outcome, job) => {
      if (stopJobId !== job.id) return outcome;
      stopJobId = null;
      if (outcome.status !== 'failed') return outcome;
      const error = new Error(STOPPED_TEXT);
      error.name = 'StopRequested';
      return { status: 'failed', error, excString: STOPPED_TEXT, endedAt: outcome.endedAt, stopped: true };
    });

    worker.hooks.shutdown.tapPromise(PLUGIN_NAME, async () => {
      subscriber?.disconnect();
      subscriber = null;
    });
  }
}
