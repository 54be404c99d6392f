import { RqError } from './RqError.js';

/** Redis could not be reached or answered with an error during setup. */
export class RedisConnectionError extends RqError {}
