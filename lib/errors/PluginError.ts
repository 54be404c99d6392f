import { RqError } from './RqError.js';

/** A plugin's tap threw; names the hook and the tap, keeps the original error as `cause`. */
export class PluginError extends RqError {
  constructor(
    readonly hook: string,
    readonly tap: string,
    cause: unknown,
  ) {
    super(`Plugin "${tap}" failed in hook "${hook}": ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
