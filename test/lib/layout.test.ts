/**
 * The layout rules of DESIGN.md that keep the framework and its built-in plugins apart: lib/ never
 * imports plugins/ except at its edges (the package entry and lib/cli/: the CLI and the horse process's entry), and plugins do
 * not import each other (what several need lives in lib/).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/worker.js';

const EDGES = ['lib/index.ts', 'lib/cli/main.ts', 'lib/cli/horse.ts'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

const importsOf = (file: string): string[] => [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '([^']+)'/gm)].map((m) => m[1]!);

describe('layout', () => {
  it('lib/ imports plugins/ only at its edges', () => {
    const offenders = sources(join(repoRoot, 'lib'))
      .map((f) => relative(repoRoot, f))
      .filter((f) => !EDGES.includes(f) && importsOf(join(repoRoot, f)).some((i) => i.includes('/plugins/')));
    assert.deepEqual(offenders, []);
  });

  it('plugins do not import each other', () => {
    const offenders = sources(join(repoRoot, 'plugins'))
      .filter((f) => !f.endsWith('index.ts'))
      .flatMap((f) => importsOf(f).filter((i) => i.startsWith('./')).map((i) => `${relative(repoRoot, f)} imports ${i}`));
    assert.deepEqual(offenders, []);
  });

  it('the edges register the built-in plugins', () => {
    for (const edge of EDGES) assert.match(readFileSync(join(repoRoot, edge), 'utf8'), /useBuiltins\(builtinPlugins\)/, edge);
  });
});
