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

/**
 * Python's json.dumps of one value. The path to the value being written (`args[1].when`) is kept as
 * a stack of keys and turned into text only for an error message: built eagerly, a template string
 * per array item and object key was most of the cost of encoding a job's small call data.
 */
class PythonJsonEncoder {
  private readonly path: (string | number)[] = [];
  private readonly seen = new Set<object>();

  constructor(private readonly root: string) {}

  private where(): string {
    let text = this.root;
    for (const key of this.path) text += typeof key === 'number' ? `[${key}]` : `.${key}`;
    return text;
  }

  encode(v: unknown): string {
    switch (typeof v) {
      case 'string':
        return encodeString(v);
      case 'boolean':
        return v ? 'true' : 'false';
      case 'number':
        if (!Number.isFinite(v)) {
          throw new SerializationError(`${this.where()} is ${v}, which JSON cannot represent; send a finite number or null`);
        }
        return pythonFloat(v);
      case 'undefined':
        return 'null';
      case 'object': {
        if (v === null) return 'null';
        if (this.seen.has(v)) throw new SerializationError(`${this.where()} refers to itself (circular structure); JSON cannot represent it`);
        // An error ends the whole encoding: nothing needs unwinding on the way out.
        this.seen.add(v);
        let out: string;
        if (Array.isArray(v)) {
          out = '[';
          // An index loop, not map(): a hole in a sparse array is written as null, as JSON.stringify does.
          for (let i = 0; i < v.length; i++) {
            if (i > 0) out += ', ';
            this.path.push(i);
            out += this.encode(v[i]);
            this.path.pop();
          }
          out += ']';
        } else if (!isPlainObject(v)) {
          throw new SerializationError(
            `${this.where()} is ${describe(v)}; rq's JSON serializer takes only null, booleans, numbers, strings, arrays and plain objects (convert it first, e.g. a Date with toISOString())`,
          );
        } else {
          out = '{';
          let first = true;
          for (const k of Object.keys(v)) {
            const item = (v as Record<string, unknown>)[k];
            // JS convention: an undefined property is an absent property.
            if (item === undefined) continue;
            if (!first) out += ', ';
            first = false;
            this.path.push(k);
            out += `${encodeString(k)}: ${this.encode(item)}`;
            this.path.pop();
          }
          out += '}';
        }
        this.seen.delete(v);
        return out;
      }
      default:
        throw new SerializationError(
          `${this.where()} is ${describe(v)}; rq's JSON serializer takes only null, booleans, numbers, strings, arrays and plain objects`,
        );
    }
  }
}

/** `json.dumps(value)` exactly as Python writes it: `', '` and `': '` separators, ASCII only. */
export function pythonJsonDumps(value: unknown, where = 'value'): string {
  return new PythonJsonEncoder(where).encode(value);
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
