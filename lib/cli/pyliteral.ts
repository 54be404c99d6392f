/**
 * A parser for the Python literals that `ast.literal_eval` accepts, producing the JSON value a
 * Python worker with rq's JSONSerializer would see (`rq enqueue jobs.f '%(1, None)'`). Nothing is
 * evaluated: the text is tokenized and parsed by hand, and anything that is not a literal is an
 * error. Supported: None, True, False; int (decimal, 0x, 0o, 0b, `_` separators) and float
 * literals with one optional sign; str literals (', ", triple quotes, r/u prefixes, escapes,
 * implicit concatenation); lists, tuples (as JSON arrays) and dicts (keys converted to strings as
 * Python's json.dumps does). Rejected with a reason, because JSON cannot carry them: bytes, sets,
 * complex numbers, integers beyond 2**53, inf/nan.
 */
import { pythonFloat } from '../pyrepr.js';

export class PythonLiteralError extends Error {}

type Token =
  | { kind: 'num'; text: string; pos: number }
  | { kind: 'str'; value: string; bytes: boolean; pos: number }
  | { kind: 'name'; text: string; pos: number }
  | { kind: 'op'; text: string; pos: number }
  | { kind: 'end'; pos: number };

const OPS = new Set(['(', ')', '[', ']', '{', '}', ',', ':', '-', '+']);
const DIGITS = '[0-9](?:_?[0-9])*';
const EXPONENT = `[eE][+-]?${DIGITS}`;
const NUMBER = new RegExp(
  [
    `0[xX](?:_?[0-9a-fA-F])+`,
    `0[oO](?:_?[0-7])+`,
    `0[bB](?:_?[01])+`,
    `(?:${DIGITS}\\.(?:${DIGITS})?|\\.${DIGITS})(?:${EXPONENT})?[jJ]?`,
    `${DIGITS}${EXPONENT}[jJ]?`,
    `${DIGITS}[jJ]?`,
  ]
    .map((p) => `(?:${p})`)
    .join('|'),
  'y',
);
const STRING_PREFIX = /(?:[rR][bB]|[bB][rR]|[rR][fF]|[fF][rR]|[rRuUbBfF])?(?='|")/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;

const SIMPLE_ESCAPES: Record<string, string> = {
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let depth = 0;
  const fail = (msg: string, at = i): never => {
    throw new PythonLiteralError(`${msg} at position ${at}`);
  };
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '\n' || c === '\r') {
      // A line break ends the expression unless it is inside brackets; only blank lines may follow.
      if (depth === 0 && src.slice(i).trim() !== '' && !/^\s*#/.test(src.slice(i))) fail('unexpected line break');
      i++;
      continue;
    }
    if (c === '\\' && (src[i + 1] === '\n' || src[i + 1] === '\r')) {
      i += src[i + 1] === '\r' && src[i + 2] === '\n' ? 3 : 2;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    STRING_PREFIX.lastIndex = i;
    const prefix = STRING_PREFIX.exec(src);
    if (prefix) {
      const p = prefix[0].toLowerCase();
      if (p.includes('f')) fail('f-strings are not literals');
      const start = i;
      i += prefix[0].length;
      const raw = p.includes('r');
      const bytes = p.includes('b');
      const q = src[i]!;
      const triple = src.startsWith(q.repeat(3), i);
      const quote = triple ? q.repeat(3) : q;
      i += quote.length;
      let value = '';
      for (;;) {
        if (i >= src.length) fail('unterminated string literal', start);
        if (src.startsWith(quote, i)) {
          i += quote.length;
          break;
        }
        const ch = src[i]!;
        if (!triple && (ch === '\n' || ch === '\r')) fail('unterminated string literal', start);
        if (ch !== '\\') {
          value += ch;
          i++;
          continue;
        }
        const next = src[i + 1];
        if (next === undefined) fail('unterminated string literal', start);
        if (raw) {
          // In a raw string a backslash stays, and it keeps the next character from ending the string.
          value += ch + next;
          i += 2;
          continue;
        }
        if (next === '\n') {
          i += 2;
          continue;
        }
        if (next === '\r') {
          i += src[i + 2] === '\n' ? 3 : 2;
          continue;
        }
        const simple = SIMPLE_ESCAPES[next!];
        if (simple !== undefined) {
          value += simple;
          i += 2;
          continue;
        }
        if (/[0-7]/.test(next!)) {
          const m = /^[0-7]{1,3}/.exec(src.slice(i + 1))![0];
          value += String.fromCodePoint(parseInt(m, 8));
          i += 1 + m.length;
          continue;
        }
        const hexLength = next === 'x' ? 2 : !bytes && next === 'u' ? 4 : !bytes && next === 'U' ? 8 : 0;
        if (hexLength > 0) {
          const hex = src.slice(i + 2, i + 2 + hexLength);
          if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) fail(`truncated \\${next} escape`);
          const code = parseInt(hex, 16);
          if (code > 0x10ffff) fail(`\\${next}${hex} is not a Unicode code point`);
          value += String.fromCodePoint(code);
          i += 2 + hexLength;
          continue;
        }
        if (!bytes && next === 'N') fail('\\N{...} escapes are not supported; write the character itself');
        // Python keeps an unknown escape as it is.
        value += ch + next;
        i += 2;
      }
      tokens.push({ kind: 'str', value, bytes, pos: start });
      continue;
    }
    NUMBER.lastIndex = i;
    const num = NUMBER.exec(src);
    if (num && !(num[0] === '' || /[A-Za-z0-9_]/.test(src[i + num[0].length] ?? ''))) {
      tokens.push({ kind: 'num', text: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    if (num || /[0-9]/.test(c)) fail(`invalid number ${JSON.stringify(/^[\w.]+/.exec(src.slice(i))?.[0] ?? c)}`);
    NAME.lastIndex = i;
    const name = NAME.exec(src);
    if (name) {
      tokens.push({ kind: 'name', text: name[0], pos: i });
      i += name[0].length;
      continue;
    }
    if (OPS.has(c)) {
      if ('([{'.includes(c)) depth++;
      if (')]}'.includes(c)) depth = Math.max(0, depth - 1);
      tokens.push({ kind: 'op', text: c, pos: i });
      i++;
      continue;
    }
    fail(`unexpected ${JSON.stringify(c)}`);
  }
  tokens.push({ kind: 'end', pos: src.length });
  return tokens;
}

/** A parsed value, with whether it came from a float literal (for dict keys: Python's `1.0` key is "1.0"). */
interface Parsed {
  value: unknown;
  float?: boolean;
}

class Parser {
  private at = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.at]!;
  }
  private next(): Token {
    return this.tokens[this.at++]!;
  }
  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.text === text;
  }
  private expectOp(text: string): void {
    const t = this.next();
    if (t.kind !== 'op' || t.text !== text) this.unexpected(t, `expected '${text}'`);
  }
  private unexpected(t: Token, hint?: string): never {
    const what = t.kind === 'end' ? 'end of input' : t.kind === 'str' ? 'string' : `'${t.text}'`;
    throw new PythonLiteralError(`unexpected ${what} at position ${t.pos}${hint ? ` (${hint})` : ''}`);
  }

  /** The whole input: one value, or a bare tuple `1, 2`. */
  parseTop(): unknown {
    if (this.peek().kind === 'end') throw new PythonLiteralError('empty input');
    const first = this.parseValue();
    let value: unknown = first.value;
    if (this.isOp(',')) {
      const items = [first.value];
      while (this.isOp(',')) {
        this.next();
        if (this.peek().kind === 'end') break;
        items.push(this.parseValue().value);
      }
      value = items;
    }
    const t = this.peek();
    if (t.kind !== 'end') this.unexpected(t);
    return value;
  }

  private parseValue(): Parsed {
    const t = this.next();
    switch (t.kind) {
      case 'num':
        return number(t.text, 1, t.pos);
      case 'str': {
        let value = t.value;
        let bytes = t.bytes;
        while (this.peek().kind === 'str') {
          const s = this.next() as Extract<Token, { kind: 'str' }>;
          if (s.bytes !== bytes) throw new PythonLiteralError(`cannot mix bytes and str literals at position ${s.pos}`);
          value += s.value;
          bytes = s.bytes;
        }
        if (bytes) throw new PythonLiteralError(`bytes literals have no JSON form (position ${t.pos}); use a str`);
        return { value };
      }
      case 'name':
        if (t.text === 'None') return { value: null };
        if (t.text === 'True') return { value: true };
        if (t.text === 'False') return { value: false };
        if (t.text === 'set' && this.isOp('(')) throw new PythonLiteralError('sets have no JSON form; use a list');
        if (t.text === 'inf' || t.text === 'nan') throw new PythonLiteralError(`${t.text} is not a literal (and has no JSON form)`);
        throw new PythonLiteralError(`name ${JSON.stringify(t.text)} at position ${t.pos} is not a literal (only None, True and False are)`);
      case 'op':
        if (t.text === '-' || t.text === '+') {
          const n = this.next();
          if (n.kind !== 'num') this.unexpected(n, 'a sign must be followed by a number');
          return number(n.text, t.text === '-' ? -1 : 1, n.pos);
        }
        if (t.text === '[') return { value: this.parseSequence(']') };
        if (t.text === '(') {
          if (this.isOp(')')) {
            this.next();
            return { value: [] };
          }
          const first = this.parseValue();
          if (this.isOp(')')) {
            this.next();
            return first;
          }
          this.expectOp(',');
          return { value: [first.value, ...this.parseSequence(')')] };
        }
        if (t.text === '{') return this.parseBrace(t.pos);
        return this.unexpected(t);
      default:
        return this.unexpected(t);
    }
  }

  /** Items up to `close`, with an optional trailing comma. */
  private parseSequence(close: string): unknown[] {
    const items: unknown[] = [];
    while (!this.isOp(close)) {
      items.push(this.parseValue().value);
      if (this.isOp(',')) this.next();
      else if (!this.isOp(close)) this.unexpected(this.peek(), `expected ',' or '${close}'`);
    }
    this.next();
    return items;
  }

  private parseBrace(pos: number): Parsed {
    const obj: Record<string, unknown> = {};
    if (this.isOp('}')) {
      this.next();
      return { value: obj };
    }
    const firstKey = this.parseValue();
    if (!this.isOp(':')) {
      // `{1, 2}` is a set: read it to the end so that a syntax error is still reported as such.
      if (this.isOp(',')) {
        this.next();
        this.parseSequence('}');
      } else this.expectOp('}');
      throw new PythonLiteralError(`sets have no JSON form (position ${pos}); use a list`);
    }
    let key = firstKey;
    for (;;) {
      this.expectOp(':');
      const value = this.parseValue();
      Object.defineProperty(obj, jsonKey(key), { value: value.value, enumerable: true, writable: true, configurable: true });
      if (this.isOp(',')) this.next();
      else if (!this.isOp('}')) this.unexpected(this.peek(), "expected ',' or '}'");
      if (this.isOp('}')) {
        this.next();
        return { value: obj };
      }
      key = this.parseValue();
    }
  }
}

/** Python's json.dumps turns non-string keys into strings; other keys are an error there too. */
function jsonKey(key: Parsed): string {
  const k = key.value;
  if (typeof k === 'string') return k;
  if (k === null) return 'null';
  if (k === true) return 'true';
  if (k === false) return 'false';
  if (typeof k === 'number') return key.float ? pythonFloatRepr(k) : String(k);
  throw new PythonLiteralError('dict keys must be str, int, float, bool or None to have a JSON form');
}

function pythonFloatRepr(n: number): string {
  const s = pythonFloat(n);
  // Python writes an integral float with '.0', and from 1e16 on in exponent form ('1e+16').
  if (/^-?\d+$/.test(s)) return Math.abs(n) >= 1e16 ? n.toExponential() : `${s}.0`;
  return s;
}

function number(text: string, sign: 1 | -1, pos: number): Parsed {
  if (/[jJ]$/.test(text)) throw new PythonLiteralError(`complex number ${text} at position ${pos} has no JSON form`);
  const clean = text.replace(/_/g, '');
  if (/^0[xXoObB]/.test(clean) || /^[0-9]+$/.test(clean)) {
    if (/^0[0-9]+$/.test(clean) && /[1-9]/.test(clean)) {
      throw new PythonLiteralError(`leading zeros in decimal integer ${text} at position ${pos} are not allowed (use 0o for octal)`);
    }
    const big = BigInt(clean) * BigInt(sign);
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new PythonLiteralError(`integer ${sign < 0 ? '-' : ''}${text} is beyond 2**53 and would lose precision as a JSON number`);
    }
    return { value: Number(big) };
  }
  const value = sign * Number(clean);
  if (!Number.isFinite(value)) throw new PythonLiteralError(`float ${text} is too large for a JSON number`);
  return { value, float: true };
}

/** The JSON value of a Python literal (as `ast.literal_eval` reads it); throws PythonLiteralError. */
export function parsePythonLiteral(src: string): unknown {
  // literal_eval strips leading spaces and tabs.
  return new Parser(tokenize(src.replace(/^[ \t]+/, ''))).parseTop();
}
