import { Command } from './commander.js';
import { Job } from '../Job.js';
import { openCli } from './context.js';
import { listen, portArg } from './serve.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface MetricsFlags extends SharedFlags {
  bind: string;
  port: number;
}

/** `rq metrics`: only /metrics, on rq-exporter's port 9726, for a Prometheus that scrapes without a dashboard. */
export function metricsCommand(): Command {
  const cmd = new Command('metrics')
    .description("Serves Prometheus metrics (rq-exporter's names) on /metrics.")
    .option('-b, --bind <address>', 'Address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'Port to listen on', portArg, 9726);
  addSharedOptions(cmd);
  cmd.action(async (flags: MetricsFlags) => {
    await runMetrics(flags);
  });
  return cmd;
}

export async function runMetrics(flags: MetricsFlags): Promise<void> {
  // hono and prom-client load only for this command: see listen(). A missing prom-client stops the
  // command at start, not at the first scrape.
  const [{ Hono }, { loadPromClient, renderMetrics }] = await Promise.all([import('hono'), import('../metrics.js')]);
  await loadPromClient();
  const cli = await openCli(flags, { live: true });
  const app = new Hono();
  app.get('/metrics', async (c) => {
    const { contentType, body } = await renderMetrics({
      connection: cli.connection,
      jobClass: cli.jobClass ?? Job,
      registryOptions: cli.registryOptions(),
      workerClass: cli.workerClass,
      queues: () => cli.queueClass.all(cli.queueOptions()),
    });
    return c.body(body, 200, { 'content-type': contentType });
  });
  app.onError((err, c) => c.text(`${err.message}\n`, 500));
  const url = await listen(app, flags.bind, flags.port, () => cli.close());
  out(`Prometheus metrics on ${url}/metrics`);
}
