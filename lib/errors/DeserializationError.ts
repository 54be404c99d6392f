import { RqError } from './RqError.js';

/** Job data (or a result, or meta) that cannot be decoded: not zlib, not JSON, or the wrong shape. */
export class DeserializationError extends RqError {}
