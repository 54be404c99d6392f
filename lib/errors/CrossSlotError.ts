import { RqError } from './RqError.js';

/** A script's keys would span Redis Cluster slots (a prefix without a hash tag on a cluster). */
export class CrossSlotError extends RqError {}
