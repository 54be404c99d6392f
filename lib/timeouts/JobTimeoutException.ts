import { RqError } from '../errors/RqError.js';

/** Raised (and written to exc_info) when a job outlives its timeout; named as rq's exception. */
export class JobTimeoutException extends RqError {}
