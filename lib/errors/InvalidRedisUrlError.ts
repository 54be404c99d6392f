import { RqError } from './RqError.js';

/** A Redis URL or connection option that cannot be used. */
export class InvalidRedisUrlError extends RqError {}
