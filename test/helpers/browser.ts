/**
 * Debian's headless Chromium driven by playwright-core (which never downloads a browser of its own),
 * in a fresh profile removed afterwards. Null with a reason when /usr/bin/chromium is missing.
 */
import { existsSync, rmSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';
import { tempDir } from './checkout.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_REASON = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (apt-get install -y chromium); browser tests skipped`;

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A browser with its own --user-data-dir (playwright passes it for a persistent context). */
export async function launchChromium(): Promise<Browser> {
  const profile = tempDir('chromium');
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1100, height: 640 }, timeout: 30_000 });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
