import { RqError } from './RqError.js';

/** A command-line usage error (exit code 2): the message names the flag and what is allowed. */
export class UsageError extends RqError {}
