/**
 * The blocked-loop watchdog's thread (see LoopWatchdog.ts). It has its own event loop, so it runs
 * while the worker's is blocked; it shares only `workerData.buffer` and the messages registering
 * workers. What it needs to record a failure (ioredis, the registries) is loaded only once the event
 * loop misses a tick.
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { GRACE_MS, ID_BYTES, ID_TOO_LONG, POLL_MS, SLOTS, TICK, slotViews, type WatchedWorker, type WatchdogData } from './loop-watchdog-shared.js';

/** How long recording the failure may take before the process is ended anyway (Redis may be the reason it hangs). */
const RECORD_MS = 5000;

const { ints, floats, ids } = slotViews((workerData as WatchdogData).buffer);
const workers = new Map<number, WatchedWorker>();
parentPort!.on('message', (w: WatchedWorker) => workers.set(w.n, w));

interface Overdue {
  jobId: string | null;
  worker: WatchedWorker | undefined;
  deadline: number;
  timeout: number;
  /** How long the event loop has not ticked (ms). */
  blockedFor: number;
}

/** The event loop's tick count as last seen, and when it last changed (this thread's clock). */
let tick = Atomics.load(ints, TICK);
let tickedAt = Date.now();

const timer = setInterval(() => {
  const now = Date.now();
  const t = Atomics.load(ints, TICK);
  if (t !== tick) {
    tick = t;
    tickedAt = now;
  }
  if (now - tickedAt < GRACE_MS) {
    // The loop has missed a tick: load what recording needs now, while the job may still end in
    // time, not once the process is past its deadline, when the load would eat into the RECORD_MS
    // the record has (a busy test run once saw that record time out).
    if (now - tickedAt >= 2 * POLL_MS) void recorderModules().catch(() => {});
    return;
  }
  for (let s = 0; s < SLOTS; s++) {
    const at = s * 4;
    if (Atomics.load(ints, at) === 0) continue;
    const gen = Atomics.load(ints, at + 1);
    const deadline = floats[s * 2]!;
    const timeout = floats[s * 2 + 1]!;
    const n = ints[at + 2]!;
    const len = ints[at + 3]!;
    const jobId = len === ID_TOO_LONG ? null : ids.toString('utf8', s * ID_BYTES, s * ID_BYTES + len);
    // Disarmed or re-armed while being read: what was read may mix two jobs.
    if (Atomics.load(ints, at) === 0 || Atomics.load(ints, at + 1) !== gen) continue;
    if (now - deadline >= GRACE_MS) {
      clearInterval(timer);
      void endProcess({ jobId, worker: workers.get(n), deadline, timeout, blockedFor: now - tickedAt });
      return;
    }
  }
}, POLL_MS);

function say(line: string): void {
  writeSync(2, `rq-ts watchdog: ${line}\n`);
}

async function endProcess(o: Overdue): Promise<void> {
  const overdue = ((Date.now() - o.deadline) / 1000).toFixed(1);
  const blocked = `job ${o.jobId ?? '(id too long to show)'} is ${overdue} s past its timeout of ${o.timeout} s and has blocked the event loop of `;
  say(
    o.worker?.horse
      ? `${blocked}work horse ${process.pid} for ${(o.blockedFor / 1000).toFixed(1)} s; the horse is ended (SIGKILL) and its worker starts another.`
      : `${blocked}process ${process.pid} for ${(o.blockedFor / 1000).toFixed(1)} s; no timer can run, so the process is ended (SIGKILL). Run such ` +
          `jobs in a Worker (each job in a horse process), or choose rq.timeouts.InProcessDeathPenalty, which interrupts them in-process at a cost per job.`,
  );
  try {
    await Promise.race([
      record(o),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`Redis did not answer within ${RECORD_MS} ms`)), RECORD_MS)),
    ]);
  } catch (err) {
    say(`could not record the job's failure and the worker's death (${err instanceof Error ? err.message : String(err)}); registry maintenance will fail the job as abandoned`);
  }
  process.kill(process.pid, 'SIGKILL');
}

let loading: ReturnType<typeof loadRecorderModules> | null = null;

/** The modules record() needs, loaded once (a failed load is tried again at the next call). */
function recorderModules(): ReturnType<typeof loadRecorderModules> {
  loading ??= loadRecorderModules().catch((err: unknown) => {
    loading = null;
    throw err;
  });
  return loading;
}

function loadRecorderModules() {
  return Promise.all([
    import('ioredis'),
    import('../redis/connection.js'),
    import('../registries/StartedJobRegistry.js'),
    import('../registries/workerRegistry.js'),
    import('./JobTimeoutException.js'),
  ]);
}

async function record({ jobId, worker, timeout }: Overdue): Promise<void> {
  if (!worker) throw new Error('the worker was not registered with the watchdog');
  const [{ Redis, Cluster }, { useKeyPrefix, keysOf }, { StartedJobRegistry }, { registerDeath }, { JobTimeoutException }] = await recorderModules();
  const options = { ...worker.redisOptions, lazyConnect: false, maxRetriesPerRequest: 1 };
  const connection = worker.cluster ? (new Cluster(worker.cluster, { redisOptions: options }) as unknown as InstanceType<typeof Redis>) : new Redis(options);
  connection.on('error', () => {}); // the command's own rejection says what went wrong
  useKeyPrefix(connection, worker.prefix);
  try {
    const origin = jobId === null ? null : await connection.hget(keysOf(connection).job(jobId), 'origin');
    if (jobId !== null && origin !== null) {
      const err = new JobTimeoutException(`Task exceeded maximum timeout value (${timeout} seconds)`);
      const excInfo = `${err.name}: ${err.message}\nThe job kept the event loop of worker ${worker.key} (${worker.horse ? 'work horse' : 'process'} ${process.pid}) blocked past its timeout; the watchdog ended the process.`;
      const outcome = await new StartedJobRegistry(origin, { connection }).abandon(jobId, excInfo, keysOf(connection).workerNameFromKey(worker.key) ?? '', true);
      say(`job ${jobId}: ${outcome === 'failed' ? 'moved to FailedJobRegistry' : outcome === 'gone' ? 'no longer registered as started' : outcome}`);
    }
    if (!worker.horse) {
      await registerDeath(connection, worker.key, worker.queueNames);
      say(`registered the death of ${worker.key}`);
    }
  } finally {
    connection.disconnect();
  }
}
