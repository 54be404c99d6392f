import { RqError } from './RqError.js';

/** A job id rq cannot store: empty, not a string, or containing ':'. */
export class InvalidJobIdError extends RqError {}
