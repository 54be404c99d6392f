/**
 * Job functions of the benchmark (enqueued as `bench.jobs.noop` / `bench.jobs.payload`, found with
 * `-P <repo root>` and loaded from this source file by jiti, as a user's job module would be).
 */

/** Does nothing: the benchmark measures the queue, not the job. */
export function noop(): void {}

/** Takes a (1 KB) string and does nothing with it: measures moving the payload through Redis and IPC. */
export function payload(_s: string): void {}

/** Awaits `ms` (a stand-in for an HTTP call or a query): what concurrency is for. */
export async function io(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
