import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

/**
 * A python3 that can `import rq` (Debian's python3-rq lives in /usr/bin/python3, which may not be
 * the first python3 on PATH). `RQ_PYTHON` overrides. Null with a reason when there is none.
 */
function findPython(): { python: string | null; reason: string } {
  const candidates = [process.env.RQ_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import rq, sys; sys.stdout.write(rq.VERSION)'], { encoding: 'utf8' });
    if (r.status === 0) return { python, reason: `python-rq ${r.stdout}` };
  }
  return { python: null, reason: 'python3-rq is not installed (apt-get install -y python3-rq); interop tests skipped' };
}

export const { python: PYTHON, reason: PYTHON_REASON } = findPython();

/** Runs a Python snippet; `REDIS_PORT` is set in its environment. Throws with stderr on failure. */
export function runPython(code: string, env: Record<string, string> = {}, cwd?: string): string {
  if (!PYTHON) throw new Error(PYTHON_REASON);
  const r: SpawnSyncReturns<string> = spawnSync(PYTHON, ['-c', code], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    cwd,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
