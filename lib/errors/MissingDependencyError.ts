import { RqError } from './RqError.js';

/** An optional package that a feature needs is not installed; the message says what to install. */
export class MissingDependencyError extends RqError {}
