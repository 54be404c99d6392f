import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One python-rq the interop tests run against: a python3 and the PYTHONPATH that selects the rq. */
export interface PythonRq {
  /** '1.13' or '2.10': the series, for test names. */
  readonly label: string;
  /** The python3 to run, or null when this rq is unavailable (then `reason` says why). */
  readonly python: string | null;
  /** The rq version found, or why the tests against it are skipped. */
  readonly reason: string;
  /** Environment entries a child needs to import this rq (PYTHONPATH for the vendored copy). */
  readonly env: Readonly<Record<string, string>>;
}

function rqVersion(python: string, env: Record<string, string>): string | null {
  const r = spawnSync(python, ['-c', 'import rq, sys; sys.stdout.write(rq.VERSION)'], { encoding: 'utf8', env: { ...process.env, ...env } });
  return r.status === 0 ? r.stdout : null;
}

/**
 * A python3 that can `import rq` (Debian's python3-rq lives in /usr/bin/python3, which may not be
 * the first python3 on PATH). `RQ_PYTHON` overrides. Null with a reason when there is none.
 */
function findPython(): PythonRq {
  const candidates = [process.env.RQ_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const python of candidates) {
    const version = rqVersion(python, {});
    if (version !== null) return { label: '1.13', python, reason: `python-rq ${version}`, env: {} };
  }
  return { label: '1.13', python: null, reason: 'python3-rq is not installed (apt-get install -y python3-rq); interop tests skipped', env: {} };
}

/**
 * python-rq 2.10's unmodified source, run by Debian's python3 (its redis and click come with
 * python3-rq): `RQ_2_PATH` names the directory holding its `rq` package, else the copy vendored at
 * `<repo>/../shared/vendor/python-rq-2.10`. Null with a printed reason when it is absent.
 */
function findPython2(base: PythonRq): PythonRq {
  const repoRoot = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
  const dir = process.env.RQ_2_PATH || join(repoRoot, '..', 'shared', 'vendor', 'python-rq-2.10');
  const skip = (why: string): PythonRq => {
    const reason = `python-rq 2.10 tests skipped: ${why}`;
    console.log(`# ${reason}`);
    return { label: '2.10', python: null, reason, env: {} };
  };
  if (!base.python) return skip(base.reason);
  if (!existsSync(join(dir, 'rq', '__init__.py'))) return skip(`no rq package in ${dir} (set RQ_2_PATH to the directory holding python-rq 2.x's rq/)`);
  const env = { PYTHONPATH: dir };
  const version = rqVersion(base.python, env);
  if (version === null || !version.startsWith('2.')) return skip(`${dir} does not import as python-rq 2.x with ${base.python} (got ${version ?? 'an import error'})`);
  return { label: '2.10', python: base.python, reason: `python-rq ${version}`, env };
}

export const RQ_1: PythonRq = findPython();
export const RQ_2: PythonRq = findPython2(RQ_1);
/** Both series, for tests parametrized over them. */
export const PYTHON_RQS: readonly PythonRq[] = [RQ_1, RQ_2];

export const PYTHON = RQ_1.python;
export const PYTHON_REASON = RQ_1.reason;

/** `base` plus what a child needs to import `rq`'s package (PYTHONPATH for 2.10). */
export function pythonEnv(rq: PythonRq, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...base, ...rq.env };
}

/** Runs a Python snippet; `REDIS_PORT` is set in its environment. Throws with stderr on failure. */
export function runPython(code: string, env: Record<string, string> = {}, cwd?: string, rq: PythonRq = RQ_1): string {
  if (!rq.python) throw new Error(rq.reason);
  const r: SpawnSyncReturns<string> = spawnSync(rq.python, ['-c', code], {
    encoding: 'utf8',
    env: { ...process.env, ...env, ...rq.env },
    cwd,
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`python failed (${r.status}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}
