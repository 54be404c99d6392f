import { RqError } from './RqError.js';

/** An operation that the current Redis data does not allow (wrong key type, wrong state). */
export class InvalidOperationError extends RqError {}
