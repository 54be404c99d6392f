import { DeserializationError } from './errors/DeserializationError.js';
import { SerializationError } from './errors/SerializationError.js';
import { pythonFloat } from './pyrepr.js';

/**
 * What rq calls a serializer: turns job data, meta and results into bytes and back.
 * A class with static `dumps`/`loads` (as in Python) satisfies it as well as a plain object.
 */
export interface Serializer {
  dumps(value: unknown): Buffer;
  loads(data: Buffer | string): unknown;
}

// Python's json.dumps escapes everything outside printable ASCII (ensure_ascii=True), DEL included.
const NON_ASCII = /[\u007f-\uffff]/g;
const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

function encodeString(s: string): string {
  const json = JSON.stringify(s);
  NON_ASCII.lastIndex = 0;
  return NON_ASCII.test(json) ? json.replace(NON_ASCII, escapeChar) : json;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describe(v: unknown): string {
  if (typeof v === 'function') return `function ${v.name || '(anonymous)'}`;
  if (typeof v === 'object' && v !== null) return `an instance of ${v.constructor?.name ?? 'an unknown class'}`;
  return `${typeof v} ${String(v)}`;
}

function encode(v: unknown, where: string, seen: Set<object>): string {
  switch (typeof v) {
    case 'string':
      return encodeString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) {
        throw new SerializationError(`${where} is ${v}, which JSON cannot represent; send a finite number or null`);
      }
      return pythonFloat(v);
    case 'undefined':
      return 'null';
    case 'object': {
      if (v === null) return 'null';
      if (seen.has(v)) throw new SerializationError(`${where} refers to itself (circular structure); JSON cannot represent it`);
      seen.add(v);
      try {
        if (Array.isArray(v)) {
          return `[${v.map((item, i) => encode(item, `${where}[${i}]`, seen)).join(', ')}]`;
        }
        if (!isPlainObject(v)) {
          throw new SerializationError(
            `${where} is ${describe(v)}; rq's JSON serializer takes only null, booleans, numbers, strings, arrays and plain objects (convert it first, e.g. a Date with toISOString())`,
          );
        }
        const parts: string[] = [];
        for (const [k, item] of Object.entries(v)) {
          // JS convention: an undefined property is an absent property.
          if (item === undefined) continue;
          parts.push(`${encodeString(k)}: ${encode(item, `${where}.${k}`, seen)}`);
        }
        return `{${parts.join(', ')}}`;
      } finally {
        seen.delete(v);
      }
    }
    default:
      throw new SerializationError(
        `${where} is ${describe(v)}; rq's JSON serializer takes only null, booleans, numbers, strings, arrays and plain objects`,
      );
  }
}

/** `json.dumps(value)` exactly as Python writes it: `', '` and `': '` separators, ASCII only. */
export function pythonJsonDumps(value: unknown, where = 'value'): string {
  return encode(value, where, new Set());
}

/** rq.serializers.JSONSerializer: UTF-8 bytes of Python's `json.dumps`. */
export class JSONSerializer {
  static dumps(value: unknown): Buffer {
    return Buffer.from(pythonJsonDumps(value), 'utf8');
  }

  static loads(data: Buffer | string): unknown {
    const text = typeof data === 'string' ? data : data.toString('utf8');
    try {
      return JSON.parse(text);
    } catch (cause) {
      throw new DeserializationError(`not valid JSON: ${JSON.stringify(text.slice(0, 60))}`, { cause });
    }
  }
}

export const defaultSerializer: Serializer = JSONSerializer;
