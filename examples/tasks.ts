/** Example job functions used by the README and `npm run demo`: enqueue them as `examples.tasks.<name>`. */
export function send_newsletter(address: string): void {
  // A real task would send mail; this one only shows where its output goes.
  console.log(`[horse ${process.pid}] newsletter sent to ${address}`);
}

export function add(a: number, b: number): number {
  return a + b;
}

export async function fetch_title(html: string): Promise<string> {
  await new Promise((r) => setTimeout(r, 10));
  return /<title>(.*?)<\/title>/i.exec(html)?.[1] ?? '';
}

export function word_count(text: string, options: { unique?: boolean } = {}): number {
  const words = text.split(/\s+/).filter(Boolean);
  return options.unique ? new Set(words.map((w) => w.toLowerCase())).size : words.length;
}

export function fail(reason: string): never {
  throw new Error(reason);
}

/** Uses examples/heavy-module: its import cost is what `preload` moves out of the first job. */
export async function heavy_lookup(i: number): Promise<number> {
  const heavy = await import('./heavy-module.js');
  return heavy.lookup(i);
}
