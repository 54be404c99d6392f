#!/usr/bin/env node
/**
 * `rq`: the CLI's entry. It imports nothing heavy itself, so that `rq worker` can fork its work horse
 * before loading the rest (lib/horse/fork.ts); the program is lib/cli/program.ts.
 */
import { discardEarlyHorse, forkHorseEarly } from '../horse/fork.js';

forkHorseEarly(process.argv);

const [{ builtinPlugins }, { useBuiltins }, { main }] = await Promise.all([import('../../plugins/index.js'), import('../Worker.js'), import('./program.js')]);
// The CLI is an edge: the workers it starts get the built-in plugins.
useBuiltins(builtinPlugins);
await main(process.argv);
// Not taken (a usage error, a suspended RQ...): ended now rather than once it has loaded and seen this process go.
discardEarlyHorse();
