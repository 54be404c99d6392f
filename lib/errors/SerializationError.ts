import { RqError } from './RqError.js';

/** A value that rq's JSON serializer cannot encode (functions, BigInt, class instances, NaN...). */
export class SerializationError extends RqError {}
