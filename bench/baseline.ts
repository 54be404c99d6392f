/**
 * BENCH_BASELINE: another built rq-ts checkout (an older commit, say) measured as a peer in the same
 * interleaved rounds, so "no slowdown from A to B" is one run on one machine under one load.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BenchInputError } from './context.js';

/** The part of the baseline's package entry the enqueue scenarios use (stable across versions). */
export interface BaselineQueue {
  enqueue(func: string): Promise<unknown>;
  enqueueMany(calls: { func: string }[]): Promise<unknown>;
}
export interface BaselineLib {
  Queue: new (name: string, options: { connection: unknown }) => BaselineQueue;
  connect(url: string): { disconnect(): void };
}

export interface Baseline {
  root: string;
  /** `rq-ts@baseline <short commit>` (`-dirty` when its tracked files differ from the commit). */
  label: string;
  commit: string | null;
  /** Its CLI, dist/lib/cli/main.js. */
  cli: string;
  /** Its dist/lib/index.js, imported on first use. */
  lib(): Promise<BaselineLib>;
}

function git(root: string, args: string[]): string | null {
  const r = spawnSync('git', ['-C', root, ...args], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** The checkout named by BENCH_BASELINE, or null when unset; throws one line when it is not built. */
export function findBaseline(): Baseline | null {
  const raw = process.env.BENCH_BASELINE;
  if (!raw) return null;
  const root = resolve(raw);
  const cli = join(root, 'dist/lib/cli/main.js');
  if (!existsSync(cli)) {
    throw new BenchInputError(`BENCH_BASELINE=${raw}: ${cli} is missing; build that checkout first: cd ${root} && npm run build (with its node_modules installed or linked)`);
  }
  const short = git(root, ['rev-parse', '--short', 'HEAD']);
  const dirty = short !== null && git(root, ['status', '--porcelain', '--untracked-files=no']) !== '';
  const commit = short === null ? null : `${short}${dirty ? '-dirty' : ''}`;
  let loaded: Promise<BaselineLib> | null = null;
  return {
    root,
    label: commit ? `rq-ts@baseline ${commit}` : 'rq-ts@baseline',
    commit,
    cli,
    lib() {
      loaded ??= import(pathToFileURL(join(root, 'dist/lib/index.js')).href).then((m: Partial<BaselineLib>) => {
        if (typeof m.Queue !== 'function' || typeof m.connect !== 'function') throw new Error(`${root}/dist/lib/index.js exports no Queue or connect`);
        return m as BaselineLib;
      });
      return loaded;
    },
  };
}
