import { RqError } from './RqError.js';

/** A config file, key or value that cannot be used; the message names the file and key. */
export class ConfigError extends RqError {}
