/**
 * rq's `rq enqueue FUNC [ARGUMENTS...]` argument syntax:
 *
 * | argument           | becomes                                   |
 * |--------------------|-------------------------------------------|
 * | `v`                | positional string `'v'`                   |
 * | `k=v`              | keyword `k`, string `'v'`                 |
 * | `:json` / `k:=json`| JSON value                                |
 * | `%lit` / `k%=lit`  | Python literal (see pyliteral.ts)         |
 * | `@file` / `k=@file`| the file's text; `:@file`, `%@file` parse it |
 */
import { readFileSync } from 'node:fs';
import { RqError } from '../errors/RqError.js';
import { UsageError } from '../errors/UsageError.js';
import { parsePythonLiteral, PythonLiteralError } from './pyliteral.js';

type Mode = 'text' | 'json' | 'literal';

export interface FunctionArgs {
  args: unknown[];
  kwargs: Record<string, unknown>;
}

const LITERAL_DOCS = 'https://docs.python.org/3/library/ast.html#ast.literal_eval';

function split(argument: string): { keyword: string | null; mode: Mode; value: string } {
  if (argument.startsWith(':')) return { keyword: null, mode: 'json', value: argument.slice(1) };
  if (argument.startsWith('%')) return { keyword: null, mode: 'literal', value: argument.slice(1) };
  const eq = argument.indexOf('=');
  if (eq <= 0) return { keyword: null, mode: 'text', value: argument };
  const value = argument.slice(eq + 1);
  // `k:=v` / `k%=v`: the first ':' (or '%') of the argument sits right before the first '='.
  if (argument.indexOf(':') === eq - 1) return { keyword: argument.slice(0, eq - 1), mode: 'json', value };
  if (argument.indexOf('%') === eq - 1) return { keyword: argument.slice(0, eq - 1), mode: 'literal', value };
  return { keyword: argument.slice(0, eq), mode: 'text', value };
}

function readArgumentFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'Not found' : err instanceof Error ? err.message : String(err);
    throw new RqError(`Could not open file '${path}': ${reason}`, { cause: err });
  }
}

/** One argument: its keyword (null for a positional one) and its value. `position` names it in errors. */
export function parseFunctionArg(argument: string, position: number): { keyword: string | null; value: unknown } {
  const { keyword, mode, value: text } = split(argument);
  let value: unknown = text.startsWith('@') ? readArgumentFile(text.slice(1)) : text;
  const name = keyword ?? `${position}. non keyword argument`;
  if (mode === 'json') {
    try {
      value = JSON.parse(value as string);
    } catch (err) {
      throw new UsageError(`Invalid value: Unable to parse ${name} as JSON (${err instanceof Error ? err.message : String(err)}).`, { cause: err });
    }
  } else if (mode === 'literal') {
    try {
      value = parsePythonLiteral(value as string);
    } catch (err) {
      if (!(err instanceof PythonLiteralError)) throw err;
      throw new UsageError(`Invalid value: Unable to eval ${name} as Python object (${err.message}). See ${LITERAL_DOCS}`, { cause: err });
    }
  }
  return { keyword, value };
}

/** All arguments, in rq's rules: positional ones in order, each keyword at most once. */
export function parseFunctionArgs(argv: readonly string[]): FunctionArgs {
  const args: unknown[] = [];
  const kwargs: Record<string, unknown> = {};
  for (const argument of argv) {
    const { keyword, value } = parseFunctionArg(argument, args.length + 1);
    if (keyword === null) {
      args.push(value);
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(kwargs, keyword)) {
      throw new UsageError(`Invalid value: You can't specify multiple values for the same keyword (${keyword}).`);
    }
    Object.defineProperty(kwargs, keyword, { value, enumerable: true, writable: true, configurable: true });
  }
  return { args, kwargs };
}
