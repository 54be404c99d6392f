/** What the blocked-loop watchdog (LoopWatchdog.ts) and its thread share. */

/** How long the event loop may stay blocked, with a job past its deadline, before the process is ended. */
export const GRACE_MS = 1000;
/**
 * How often the worker's event loop ticks the shared counter, and the thread looks at it and at the
 * armed slots: a blocked loop is ended about GRACE_MS to GRACE_MS + 2 * POLL_MS after it stopped ticking.
 */
export const POLL_MS = 250;
/** Jobs watched at once in one process (one per SimpleWorker running a job). */
export const SLOTS = 64;
/** Room for a job id (UTF-8); a longer id is marked ID_TOO_LONG and its job is left to maintenance. */
export const ID_BYTES = 1024;
export const ID_TOO_LONG = -1;

export interface WatchdogData {
  buffer: SharedArrayBuffer;
}

/** A worker whose jobs are watched: enough for the thread to record a job's failure and the worker's death. */
export interface WatchedWorker {
  n: number;
  redisOptions: Record<string, unknown>;
  /** Redis Cluster seed nodes, or null: then redisOptions are those of each node. */
  cluster: { host: string; port: number }[] | null;
  prefix: string;
  key: string;
  queueNames: string[];
  /** A horse (taking its own jobs): its worker lives on, records nothing more and starts another horse. */
  horse: boolean;
}

/** Where in `ints` the event loop's tick counter is (after the slots; one more int keeps `floats` 8-aligned). */
export const TICK = SLOTS * 4;
export const BUFFER_BYTES = (SLOTS * 4 + 2) * 4 + SLOTS * 2 * 8 + SLOTS * ID_BYTES;

/**
 * Per slot: `ints[4s..4s+3]` = armed (0|1), generation (bumped at each arming), worker number, id
 * length in bytes; `floats[2s]` = deadline (epoch ms), `floats[2s+1]` = timeout (s); `ids` holds
 * the job id at `s * ID_BYTES`. `ints[TICK]` counts the worker's event-loop ticks.
 */
export function slotViews(buffer: SharedArrayBuffer): { ints: Int32Array; floats: Float64Array; ids: Buffer } {
  const ints = new Int32Array(buffer, 0, SLOTS * 4 + 2);
  const floats = new Float64Array(buffer, ints.byteLength, SLOTS * 2);
  const ids = Buffer.from(buffer, ints.byteLength + floats.byteLength, SLOTS * ID_BYTES);
  return { ints, floats, ids };
}
