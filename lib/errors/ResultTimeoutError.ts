import { RqError } from './RqError.js';

/** `waitForResult` saw no outcome of the job within its timeout (the job itself is left as it is). */
export class ResultTimeoutError extends RqError {}
