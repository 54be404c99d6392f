import { RqError } from './RqError.js';

/** A job id that has no hash in Redis, or a hash that is not a job. */
export class NoSuchJobError extends RqError {}
