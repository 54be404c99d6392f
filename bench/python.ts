/** python-rq (Debian's python3-rq in /usr/bin/python3): found, given a job module, timed. */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PythonRq {
  executable: string;
  version: string;
  /** Folder holding benchjobs.py (the workers' -P). */
  moduleDir: string;
}

/** The first of RQ_PYTHON, /usr/bin/python3, python3 that can `import rq`; null with the reason otherwise. */
export function findPythonRq(workDir: string): { python: PythonRq | null; note: string } {
  const candidates = [process.env.RQ_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const executable of candidates) {
    const r = spawnSync(executable, ['-c', 'import rq, sys; sys.stdout.write(rq.VERSION)'], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) continue;
    const moduleDir = join(workDir, 'python');
    mkdirSync(moduleDir, { recursive: true });
    writeFileSync(join(moduleDir, 'benchjobs.py'), 'def noop():\n    pass\n\n\ndef payload(s):\n    pass\n');
    const note = r.stdout.startsWith('1.13') ? '' : ` (the issue asks for 1.13; numbers may differ)`;
    return { python: { executable, version: r.stdout, moduleDir }, note: `python-rq ${r.stdout} from ${executable}${note}` };
  }
  return { python: null, note: 'python-rq is not installed (apt-get install -y python3-rq): python-rq peers skipped' };
}

const ENQUEUE_SCRIPT = `
import json, sys, time
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
url, n, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
q = Queue('bench', connection=Redis.from_url(url), serializer=JSONSerializer)
for _ in range(warmup):
    q.enqueue('benchjobs.noop')
t = time.perf_counter()
for _ in range(n):
    q.enqueue('benchjobs.noop')
elapsed = time.perf_counter() - t
sys.stdout.write(json.dumps({'jobs': n, 'seconds': elapsed}))
`;

/** python-rq's q.enqueue in a loop, timed inside Python: jobs per second. */
export function pythonEnqueueRate(python: PythonRq, url: string, jobs: number, warmup: number): number {
  const r = spawnSync(python.executable, ['-c', ENQUEUE_SCRIPT, url, String(jobs), String(warmup)], {
    encoding: 'utf8',
    cwd: python.moduleDir,
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`python enqueue failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as { jobs: number; seconds: number };
  return out.jobs / out.seconds;
}

const ENQUEUE_MANY_SCRIPT = `
import json, sys
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer
url, func, n, args = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
q = Queue('bench', connection=Redis.from_url(url), serializer=JSONSerializer)
for done in range(0, n, 1000):
    with q.connection.pipeline() as pipe:
        jobs = q.enqueue_many([Queue.prepare_data(func, args=args) for _ in range(min(1000, n - done))], pipeline=pipe)
        pipe.execute()
    sys.stdout.write(''.join(job.id + '\\n' for job in jobs))
`;

/**
 * Enqueues `count` calls of `func` (a dotted name: python-rq stores it without importing it) on the
 * bench queue with python-rq's Queue.enqueue_many, 1,000 jobs per pipeline, as a python-rq producer
 * of a mixed fleet would; returns the job ids in order.
 */
export function pythonEnqueueMany(python: PythonRq, url: string, func: string, count: number, args: unknown[] = []): string[] {
  const r = spawnSync(python.executable, ['-c', ENQUEUE_MANY_SCRIPT, url, func, String(count), JSON.stringify(args)], {
    encoding: 'utf8',
    cwd: python.moduleDir,
    timeout: 120_000,
    // One 36-character id a line: 10,000 jobs are ~370 KB, past spawnSync's default 1 MB from BENCH_SCALE=3 on.
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python-rq enqueue_many failed (${r.status ?? r.signal ?? r.error?.message}):\n${r.stderr}`);
  const ids = r.stdout.split('\n').filter((line) => line !== '');
  if (ids.length !== count) throw new Error(`python-rq enqueued ${ids.length} jobs, expected ${count}:\n${r.stderr}`);
  return ids;
}
