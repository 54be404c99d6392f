/**
 * Python's `repr()` of JSON-decoded values, so that a job description reads the same whether
 * Python or rq-ts enqueued it (`tasks.add(1, 'x', k=None)`).
 */
// What Python's str.isprintable() rejects, which repr() escapes: controls, format, surrogates,
// private use, unassigned, line/paragraph separators and every space but ' '.
const NOT_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

/** Python's float repr: exponent form below 1e-4, with at least two exponent digits. */
export function pythonFloat(n: number): string {
  const s = !Number.isInteger(n) && n !== 0 && Math.abs(n) < 1e-4 ? n.toExponential() : String(n);
  return s.replace(/e([+-])(\d)$/, 'e$10$2');
}

function reprString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (NOT_PRINTABLE.test(ch)) {
      if (code < 0x100) out += `\\x${code.toString(16).padStart(2, '0')}`;
      else if (code < 0x10000) out += `\\u${code.toString(16).padStart(4, '0')}`;
      else out += `\\U${code.toString(16).padStart(8, '0')}`;
    }
    else out += ch;
  }
  return out + quote;
}

function reprNumber(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (!Number.isFinite(n)) return n > 0 ? 'inf' : '-inf';
  return pythonFloat(n);
}

export function pyrepr(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return reprString(v);
  if (typeof v === 'number') return reprNumber(v);
  if (Array.isArray(v)) return `[${v.map(pyrepr).join(', ')}]`;
  if (typeof v === 'object') {
    const items = Object.entries(v as Record<string, unknown>).filter(([, item]) => item !== undefined);
    return `{${items.map(([k, item]) => `${reprString(k)}: ${pyrepr(item)}`).join(', ')}}`;
  }
  return String(v);
}

const MAX_REPR = 75;
const truncate = (s: string): string => (s.length > MAX_REPR ? `${s.slice(0, MAX_REPR)}...` : s);

/** rq's default job description: `func(repr args, k=repr v)`, each repr cut at 75 chars, kwargs sorted. */
export function callString(funcName: string, args: readonly unknown[], kwargs: Readonly<Record<string, unknown>>): string {
  const parts = args.map((a) => truncate(pyrepr(a)));
  const kw = Object.entries(kwargs).map(([k, v]) => `${k}=${truncate(pyrepr(v))}`);
  kw.sort();
  return `${funcName}(${[...parts, ...kw].join(', ')})`;
}
