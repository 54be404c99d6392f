import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (dist/test/helpers/checkout.js -> ../../..). */
export const checkoutRoot = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Names this checkout in every temporary folder its tests make, so that test/leftovers.ts can tell
 * the processes this suite started (they run in those folders, or name them) from anyone else's.
 */
export const CHECKOUT_TAG = createHash('sha1').update(checkoutRoot).digest('hex').slice(0, 8);
export const TEMP_PREFIX = join(tmpdir(), `rq-ts-${CHECKOUT_TAG}-`);

/** A new temporary folder for a test, tagged with this checkout. */
export function tempDir(kind: string): string {
  return mkdtempSync(`${TEMP_PREFIX}${kind}-`);
}
