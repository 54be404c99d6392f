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
    /** The worker that ran the execution ('' when unknown: rq 1.13 and older rq-ts entries, a cleanup's). */
    readonly workerName: string = '',
    /** rq 2.x's execution id (the `rq:execution:<job>:<id>` of the run), null when none was kept. */
    readonly executionId: string | null = null,
    readonly executionStartedAt: Date | null = null,
    readonly executionEndedAt: Date | null = null,
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
    const at = (field: string): Date | null => {
      const v = Number(map.get(field)?.toString() ?? '');
      return map.has(field) && Number.isFinite(v) && v > 0 ? new Date(Math.round(v * 1000)) : null;
    };
    return new Result(
      jobId,
      entryId,
      type,
      new Date(Number(entryId.split('-')[0])),
      rv === undefined ? null : serializer.loads(Buffer.from(rv.toString(), 'base64')),
      exc === undefined ? null : zlibDecompress(Buffer.from(exc.toString(), 'base64')).toString('utf8'),
      map.get('worker_name')?.toString() ?? '',
      map.get('execution_id')?.toString() || null,
      at('execution_started_at'),
      at('execution_ended_at'),
    );
  }

  /**
   * The fields rq 2.x writes after `type`, `worker_name` and the outcome (results.py serialize):
   * `execution_id` when there is one, `execution_started_at` and `execution_ended_at` as epoch
   * seconds (Python's float repr; rq 1.13 ignores all of them).
   */
  static executionFields(executionId: string, startedAt: Date | null, endedAt: Date | null): string[] {
    const fields: string[] = [];
    if (executionId) fields.push('execution_id', executionId);
    if (startedAt) fields.push('execution_started_at', String(startedAt.getTime() / 1000));
    if (endedAt) fields.push('execution_ended_at', String(endedAt.getTime() / 1000));
    return fields;
  }

  /** The stream fields rq writes for a success: `type 1 worker_name <name> [return_value b64(dumps(rv))]`. */
  static successFields(returnValue: unknown, serializer: Serializer, workerName = ''): string[] {
    const fields = ['type', String(ResultType.SUCCESSFUL), 'worker_name', workerName];
    if (returnValue !== null && returnValue !== undefined) {
      fields.push('return_value', serializer.dumps(returnValue).toString('base64'));
    }
    return fields;
  }

  /** The stream fields rq writes for a failure (or a stop): `type 2 worker_name <name> exc_string b64(zlib(tb))`. */
  static failureFields(excString: string, type: number = ResultType.FAILED, workerName = ''): string[] {
    return ['type', String(type), 'worker_name', workerName, 'exc_string', zlibCompress(Buffer.from(excString, 'utf8')).toString('base64')];
  }
}
