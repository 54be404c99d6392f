/**
 * docs/plugins.md against the code: its hook table lists every hook a worker has, its plugin table
 * every built-in plugin, its where-table every hook, and none of them names one that does not exist.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createHooks } from '../../lib/index.js';
import * as builtins from '../../plugins/index.js';
import { repoRoot } from '../helpers/worker.js';

const doc = readFileSync(join(repoRoot, 'docs/plugins.md'), 'utf8');

/** The first cells of the rows of the table whose header row starts with `| <first> |`. */
function firstColumn(first: string): string[] {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${first} |`));
  assert.ok(start >= 0, `docs/plugins.md has a table headed "| ${first} |"`);
  const cells: string[] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    cells.push(line.split('|')[1]!.trim());
  }
  return cells;
}

const names = (cells: string[]): string[] => cells.flatMap((c) => c.replace(/`/g, '').split(',').map((n) => n.trim()));

describe('docs/plugins.md matches the code', () => {
  const hooks = Object.keys(createHooks()).sort();
  const plugins = Object.keys(builtins)
    .filter((k) => k.endsWith('Plugin'))
    .sort();

  it('the hook table lists every hook, and only those', () => {
    assert.deepEqual(names(firstColumn('hook | tapable type')).sort(), hooks);
  });

  it('the where-table lists every hook, and only those', () => {
    assert.deepEqual(names(firstColumn('hook | SimpleWorker')).sort(), hooks);
  });

  it('the plugin table lists every built-in plugin, and only those', () => {
    assert.ok(plugins.length >= 10, `plugins/index.ts exports the built-in plugins (${plugins.join(', ')})`);
    assert.deepEqual(names(firstColumn('plugin')).sort(), plugins);
  });

  it('every built-in plugin the hook table names exists', () => {
    const rows = doc.slice(doc.indexOf('| hook | tapable type'), doc.indexOf('The built-in plugins, one file each'));
    for (const [, name] of rows.matchAll(/`(\w+Plugin)`/g)) assert.ok(plugins.includes(name!), `${name} is a built-in plugin`);
  });
});
