import { randomBytes } from 'node:crypto';
import { Command, Option } from './commander.js';
import { openCli } from './context.js';
import { isLoopback, LOOPBACK_HOSTS, listen, portArg } from './serve.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

interface DashboardFlags extends SharedFlags {
  bind: string;
  port: number;
  token?: string;
  readOnly?: boolean;
}

/** `rq dashboard`: the web dashboard and /metrics, on 127.0.0.1:9181 unless told otherwise. */
export function dashboardCommand(): Command {
  const cmd = new Command('dashboard')
    .description('Web dashboard of queues, workers and jobs, with /metrics for Prometheus.')
    .option('-b, --bind <address>', 'Address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'Port to listen on', portArg, 9181)
    .addOption(new Option('--token <secret>', 'Token that actions must carry (default: a random one, printed at start)').env('RQ_DASHBOARD_TOKEN'))
    .option('--read-only', 'No actions: only look (and /metrics)');
  addSharedOptions(cmd);
  cmd.action(async (flags: DashboardFlags) => {
    await runDashboard(flags);
  });
  return cmd;
}

export async function runDashboard(flags: DashboardFlags): Promise<void> {
  // The dashboard's modules (hono, prom-client) load only for this command: see listen().
  const { createDashboard } = await import('../dashboard/app.js');
  const cli = await openCli(flags, { live: true });
  const readOnly = flags.readOnly ?? false;
  const token = readOnly ? undefined : (flags.token ?? randomBytes(18).toString('base64url'));
  const loopback = isLoopback(flags.bind);
  const app = createDashboard({
    connection: cli.connection,
    readOnly,
    queueClass: cli.queueClass,
    workerClass: cli.workerClass,
    ...(token ? { token } : {}),
    ...(cli.jobClass ? { jobClass: cli.jobClass } : {}),
    ...(cli.serializer ? { serializer: cli.serializer } : {}),
    ...(loopback ? { allowedHosts: LOOPBACK_HOSTS } : {}),
  });
  const url = await listen(app, flags.bind, flags.port, () => cli.close());
  if (!loopback) process.stderr.write(`Warning: listening on ${flags.bind}, not loopback: anyone who can reach it sees every job's arguments\n`);
  // The token travels in the fragment, which the browser never sends to a server.
  out(readOnly ? `rq dashboard (read-only) on ${url}/` : `rq dashboard on ${url}/#token=${token}`);
  out(`Prometheus metrics on ${url}/metrics`);
}
