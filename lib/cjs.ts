import { createRequire } from 'node:module';

/**
 * Loads rq-ts's CommonJS dependencies (ioredis, tapable, jiti, cosmiconfig, commander) with `require`
 * instead of `import`. An `import` of a CommonJS file makes Node's ESM loader read the file a second
 * time and scan it for its export names with cjs-module-lexer, a JavaScript parser that runs cold at
 * every start; for these five (jiti's 190 KB bundle the largest) that was ~140 ms of CPU at each start
 * of `rq worker`, a quarter of it. `require` runs the same files without the scan, and gives the same
 * module objects as an `import` (one CommonJS cache), so `instanceof Redis` holds across both.
 * Callers cast the result to `typeof import('<package>')` with `import type`.
 */
export const requireCjs = createRequire(import.meta.url);
