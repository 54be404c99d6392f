import { RqError } from './RqError.js';

/** A dotted path (`path.to.Thing`) that does not name what was asked for. */
export class ResolveError extends RqError {}
