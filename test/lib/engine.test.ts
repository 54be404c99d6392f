/**
 * The plugin contract of the job engine, stage by stage, in a SimpleWorker and in a Worker whose
 * horse takes its own jobs: a tap that serves a stage itself (or stops the worker) and a tap that
 * throws, each against jobs queued on `default`. Whatever a tap does, every queued job ends up run
 * once or still queued: none is left started, in an intermediate list, or run twice.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { Queue, SimpleWorker, Worker, createLogger, type Job } from '../../lib/index.js';
import { BrokenApply, Contract } from '../fixtures/contract.js';
import { useRedis } from '../helpers/redis.js';
import { excText, repoRoot, returnValue, status, task } from '../helpers/worker.js';

let redis: Redis;
useRedis((_server, r) => {
  redis = r;
});

type Mode = 'SimpleWorker' | 'Worker';
const STAGES = ['dequeue', 'prepare', 'fork', 'perform', 'cleanup', 'exception'] as const;
let n = 0;

function makeWorker(mode: Mode, name: string, extra: { plugins?: string[] } = {}): Worker {
  const common = { connection: redis, name, installSignalHandlers: false, paths: [repoRoot], logger: createLogger({ level: 'CRITICAL' }) };
  const plugins = extra.plugins ?? ['test.fixtures.contract.Contract'];
  if (mode === 'SimpleWorker') {
    return new SimpleWorker(['default'], { ...common, plugins: plugins.map((p) => (p.endsWith('BrokenApply') ? new BrokenApply() : new Contract())) });
  }
  return new Worker(['default'], { ...common, horse: { plugins, loop: true } });
}

interface Case {
  jobs: Job[];
  side: Job[];
  /** The job whose stage the tap breaks (throw cases), or the failing job (exception cases). */
  marked: Job | null;
}

async function enqueue(stage: string, act: string): Promise<Case> {
  await redis.flushdb();
  const q = new Queue('default', { connection: redis });
  const jobs: Job[] = [];
  let marked: Job | null = null;
  for (let i = 0; i < 5; i++) {
    if (i === 1 && (act === 'throw' || stage === 'exception')) {
      marked = stage === 'exception' ? await q.enqueue(task('boom'), 'fail-here') : await q.enqueue(task('record'), 'runs', 'fail-here');
      jobs.push(marked);
    } else {
      jobs.push(await q.enqueue(task('record'), 'runs', `j${i}`));
    }
  }
  const side: Job[] = [];
  if (stage === 'dequeue' && act === 'preempt') {
    const s = new Queue('side', { connection: redis });
    for (let i = 0; i < 3; i++) side.push(await s.enqueue(task('record'), 'runs', `s${i}`));
  }
  return { jobs, side, marked };
}

/** Every job ran once (finished or failed) or is still queued, in its queue; nothing is left between. */
async function assertNothingStranded(c: Case, label: string): Promise<void> {
  for (const queue of ['default', 'side']) {
    assert.equal(await redis.zcard(`rq:wip:${queue}`), 0, `${label}: nothing left started on ${queue}`);
    assert.equal(await redis.llen(`rq:queue:${queue}:intermediate`), 0, `${label}: nothing left in ${queue}'s intermediate list`);
  }
  const runs = await redis.lrange('runs', 0, -1);
  const queued = await redis.lrange('rq:queue:default', 0, -1);
  for (const job of [...c.jobs, ...c.side]) {
    const s = await status(redis, job.id);
    const value = (job.args as string[])[1];
    const ran = runs.filter((r) => r === value).length;
    assert.ok(ran <= 1, `${label}: ${job.id} ran ${ran} times`);
    if (s === 'queued') assert.ok(queued.includes(job.id) && ran === 0, `${label}: ${job.id} is queued but not in its queue, or ran`);
    else assert.ok(s === 'finished' || s === 'failed', `${label}: ${job.id} ended ${String(s)}`);
  }
}

async function expectations(stage: string, act: string, mode: Mode, c: Case): Promise<void> {
  const label = `${mode} ${stage}-${act}`;
  await assertNothingStranded(c, label);
  const others = c.jobs.filter((j) => j !== c.marked);
  const finished = async (jobs: Job[]): Promise<void> => {
    for (const j of jobs) assert.equal(await status(redis, j.id), 'finished', `${label}: ${j.id} finished`);
  };
  if (act === 'throw' && stage !== 'dequeue' && stage !== 'exception') {
    assert.equal(await status(redis, c.marked!.id), 'failed', label);
    assert.match(await excText(redis, c.marked!.id), new RegExp(`Plugin "Contract" failed in hook "${stage}": ${stage} broke`), label);
    await finished(others);
    return;
  }
  switch (`${stage}-${act}`) {
    case 'dequeue-preempt':
    case 'dequeue-throw':
    case 'prepare-preempt':
      await finished([...c.jobs, ...c.side]);
      assert.equal((await redis.lrange('runs', 0, -1)).length, c.jobs.length + c.side.length, label);
      break;
    case 'fork-preempt':
      await finished(c.jobs);
      for (const j of c.jobs) assert.equal(await returnValue(redis, j.id), 'own horse', label);
      break;
    case 'perform-preempt':
      await finished(c.jobs);
      for (const j of c.jobs) assert.equal(await returnValue(redis, j.id), 'preempted', label);
      assert.equal(await redis.llen('runs'), 0, `${label}: no function ran`);
      break;
    case 'cleanup-preempt': {
      assert.equal(await status(redis, c.jobs[0]!.id), 'finished', label);
      if (mode === 'SimpleWorker') {
        // The jobs taken ahead went back, in order.
        assert.deepEqual(await redis.lrange('rq:queue:default', 0, -1), c.jobs.slice(1).map((j) => j.id), label);
      }
      break;
    }
    case 'exception-preempt':
      assert.equal(await status(redis, c.marked!.id), 'failed', label);
      assert.deepEqual(await redis.lrange('exception-taps', 0, -1), [c.marked!.id], label);
      assert.deepEqual(await redis.lrange('after-taps', 0, -1), [], `${label}: the chain ended`);
      await finished(others);
      break;
    case 'exception-throw':
      assert.equal(await status(redis, c.marked!.id), 'failed', label);
      assert.match(await excText(redis, c.marked!.id), /fail-here/, label);
      assert.deepEqual(await redis.lrange('after-taps', 0, -1), [c.marked!.id], `${label}: the chain went on`);
      await finished(others);
      break;
    default:
      assert.fail(`no expectations for ${label}`);
  }
}

for (const mode of ['SimpleWorker', 'Worker'] as const) {
  describe(`the plugin contract, ${mode}`, () => {
    for (const stage of STAGES) {
      for (const act of ['preempt', 'throw'] as const) {
        it(`${stage}: a tap that ${act === 'preempt' ? 'serves the stage itself' : 'throws'}`, async () => {
          const c = await enqueue(stage, act);
          const worker = makeWorker(mode, `contract-${stage}-${act}-${++n}`);
          await worker.work({ burst: true });
          await expectations(stage, act, mode, c);
        });
      }
    }

    it('a plugin whose apply() throws: the worker refuses to start, naming it', async () => {
      await redis.flushdb();
      const worker = makeWorker(mode, `contract-apply-throw-${++n}`, { plugins: ['test.fixtures.contract.BrokenApply'] });
      await assert.rejects(worker.work({ burst: true }), /Plugin "BrokenApply" failed in hook "apply": apply broke/);
      assert.equal(await redis.scard('rq:workers'), 0, 'nothing registered');
    });
  });
}

describe('the horse gets the worker settings whole', () => {
  it('every plain option of the worker reaches the worker its horse builds, as given', async () => {
    await redis.flushdb();
    const worker = new Worker(['default'], {
      connection: redis,
      name: `settings-${++n}`,
      installSignalHandlers: false,
      paths: [repoRoot],
      logger: createLogger({ level: 'CRITICAL' }),
      resultTtl: 77,
      workerTtl: 99,
      jobMonitoringInterval: 7,
      maintenanceInterval: 33,
      callbackTimeout: 5,
      disableJobDescLogging: true,
      disableDefaultExceptionHandler: true,
      allowedModules: ['test.fixtures'],
      horse: { plugins: ['test.fixtures.contract.SettingsProbe'], maxJobs: 50 },
    });
    await worker.work({ burst: true });
    const seen = JSON.parse((await redis.get('horse-settings')) ?? 'null') as { settings: Record<string, unknown>; resultTtl: number; callbackTimeout: number };
    assert.ok(seen, 'the horse started and recorded its settings');
    // What makes the horse the horse of this worker is its own; everything else is the worker's.
    const { role, installSignalHandlers, horse, ...rest } = seen.settings;
    const { horse: given, installSignalHandlers: _own, ...expected } = worker.settings;
    assert.deepEqual(rest, expected);
    assert.deepEqual(horse, { ...given, loop: true });
    assert.equal(role, 'horse');
    assert.equal(installSignalHandlers, false);
    assert.equal(seen.resultTtl, 77);
    assert.equal(seen.callbackTimeout, 5);
  });
});
