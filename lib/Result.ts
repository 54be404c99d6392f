import type { Serializer } from './serializers.js';
import { zlibCompress, zlibDecompress } from './zlib.js';

/** rq's Result.Type codes as stored in the `type` field of `rq:results:<id>` entries. */
export const ResultType = {
  SUCCESSFUL: 1,
  FAILED: 2,
  STOPPED: 3,
  /** rq 2.x */
  RETRIED: 4,
  /** rq 2.x */
  MAX_RETRIES_EXCEEDED: 5,
} as const;
export type ResultTypeCode = (typeof ResultType)[keyof typeof ResultType];

/** One entry of a job's results stream: an outcome of one execution. */
export class Result {
  constructor(
    readonly jobId: string,
    /** The stream entry id (`<ms>-<seq>`). */
    readonly id: string,
    readonly type: number,
    readonly createdAt: Date,
    readonly returnValue: unknown,
    readonly excString: string | null,
  ) {}

  get isSuccessful(): boolean {
    return this.type === ResultType.SUCCESSFUL;
  }

  /** Decodes one XRANGE/XREVRANGE entry; `fields` is the flat [name, value, ...] list. */
  static fromStreamEntry(jobId: string, entryId: string, fields: readonly Buffer[], serializer: Serializer): Result {
    const map = new Map<string, Buffer>();
    for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!.toString(), fields[i + 1]!);
    const type = Number(map.get('type')?.toString() ?? '0');
    const rv = map.get('return_value');
    const exc = map.get('exc_string');
    return new Result(
      jobId,
      entryId,
      type,
      new Date(Number(entryId.split('-')[0])),
      rv === undefined ? null : serializer.loads(Buffer.from(rv.toString(), 'base64')),
      exc === undefined ? null : zlibDecompress(Buffer.from(exc.toString(), 'base64')).toString('utf8'),
    );
  }

  /** The stream fields rq writes for a success: `type 1 [return_value b64(dumps(rv))]`. */
  static successFields(returnValue: unknown, serializer: Serializer): string[] {
    const fields = ['type', String(ResultType.SUCCESSFUL)];
    if (returnValue !== null && returnValue !== undefined) {
      fields.push('return_value', serializer.dumps(returnValue).toString('base64'));
    }
    return fields;
  }

  /** The stream fields rq writes for a failure (or a stop): `type 2 exc_string b64(zlib(tb))`. */
  static failureFields(excString: string, type: number = ResultType.FAILED): string[] {
    return ['type', String(type), 'exc_string', zlibCompress(Buffer.from(excString, 'utf8')).toString('base64')];
  }
}
