import { Command } from './commander.js';
import { InvalidOperationError } from '../errors/InvalidOperationError.js';
import { NoSuchJobError } from '../errors/NoSuchJobError.js';
import { RqError } from '../errors/RqError.js';
import { validateQueueName } from '../Queue.js';
import { FailedJobRegistry } from '../registries/FailedJobRegistry.js';
import { openCli, type CliContext } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out, style } from './style.js';

interface RequeueFlags extends SharedFlags {
  queue: string;
  all?: boolean;
}

/** `rq requeue --queue Q [-a] [IDS...]`: failed jobs back onto their queue (FailedJobRegistry.requeue). */
export function requeueCommand(): Command {
  const cmd = new Command('requeue')
    .description('Requeue failed jobs.')
    .argument('[job_ids...]', 'ids of failed jobs to requeue')
    .option('-a, --all', 'Requeue all failed jobs')
    .requiredOption('--queue <name>', 'The queue whose FailedJobRegistry holds the jobs');
  addSharedOptions(cmd);
  cmd.action(async (ids: string[], flags: RequeueFlags) => {
    process.exitCode = await runRequeue(ids, flags);
  });
  return cmd;
}

/**
 * Why each id cannot be requeued (not in the registry, or its hash is gone), checked for all ids
 * before any is requeued, so that a typo requeues nothing.
 */
async function unrequeueable(cli: CliContext, registry: FailedJobRegistry, ids: readonly string[]): Promise<string[]> {
  const pipe = cli.connection.pipeline();
  for (const id of ids) {
    pipe.zscore(registry.key, id);
    pipe.exists(cli.keys.job(id));
  }
  const replies = (await pipe.exec()) ?? [];
  const problems: string[] = [];
  ids.forEach((id, i) => {
    const [scoreErr, score] = replies[2 * i] ?? [];
    const [existsErr, exists] = replies[2 * i + 1] ?? [];
    if (scoreErr ?? existsErr) throw scoreErr ?? existsErr;
    if (score === null) problems.push(`${id} (not in ${registry.key})`);
    else if (exists === 0) problems.push(`${id} (its job hash is gone)`);
  });
  return problems;
}

export async function runRequeue(idArgs: string[], flags: RequeueFlags): Promise<number> {
  const queueName = validateQueueName(flags.queue);
  const cli = await openCli(flags);
  try {
    const registry = new FailedJobRegistry(queueName, cli.registryOptions());
    const [known, hasFailed] = await Promise.all([
      cli.connection.sismember(cli.keys.queues, cli.keys.queue(queueName)),
      cli.connection.exists(registry.key),
    ]);
    if (known === 0 && hasFailed === 0) {
      throw new RqError(`Unknown queue "${queueName}": it is not in ${cli.keys.queues} and has no failed jobs (${registry.key} does not exist)`);
    }
    const ids = flags.all ? await registry.getJobIds() : [...new Set(idArgs)];
    if (ids.length === 0) {
      out('Nothing to do');
      return 0;
    }
    if (!flags.all) {
      const problems = await unrequeueable(cli, registry, ids);
      if (problems.length > 0) {
        throw new RqError(`Unable to requeue ${problems.length} jobs from failed job registry: ${problems.join(', ')}; nothing was requeued`);
      }
    }
    out(`Requeueing ${ids.length} jobs from failed queue`);
    const bar = progressBar(ids.length);
    let failed = 0;
    for (const id of ids) {
      try {
        await registry.requeue(id);
      } catch (err) {
        // Another client requeued or deleted it meanwhile.
        if (!(err instanceof InvalidOperationError || err instanceof NoSuchJobError)) throw err;
        failed++;
      }
      bar.tick();
    }
    bar.done();
    if (failed > 0) {
      process.stderr.write(`${style(process.stderr.isTTY === true).red(`Unable to requeue ${failed} jobs from failed job registry`)}\n`);
      return 1;
    }
    return 0;
  } finally {
    cli.close();
  }
}

/** click's progress bar (`  [####----]   50%`), drawn on a terminal only. */
function progressBar(total: number): { tick(): void; done(): void } {
  if (!process.stdout.isTTY) return { tick() {}, done() {} };
  const width = 36;
  let n = 0;
  const draw = (): void => {
    const filled = Math.round((width * n) / total);
    const pct = `${Math.floor((100 * n) / total)}%`.padStart(4);
    process.stdout.write(`\r  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${pct}`);
  };
  draw();
  return {
    tick() {
      n++;
      draw();
    },
    done() {
      process.stdout.write('\n');
    },
  };
}
