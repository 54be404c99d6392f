import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve as resolvePath } from 'node:path';
import type * as JitiModule from 'jiti';
import { requireCjs } from './cjs.js';
import { ResolveError } from './errors/ResolveError.js';

/**
 * Dotted paths, as python-rq's `import_attribute`: `path.to.MyWorker` = module `path/to` (a .ts, .mts,
 * .cts, .js, .mjs or .cjs file, or a folder's index.*) relative to cwd and every `--path`, else an
 * installed package, and its export `MyWorker`. rq's own names (`rq.Worker`, ...) answer with the
 * built-in classes. TypeScript is loaded by jiti, without a build step.
 */
export interface ResolveOptions {
  /** Folders searched before cwd, in order (rq's `--path`). */
  paths?: readonly string[];
  cwd?: string;
  /** Also look in installed packages (default true). */
  packages?: boolean;
}

export type ExpectedKind = 'class' | 'function' | 'any';

const EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'];
const SEGMENT = /^[A-Za-z_$][\w$-]*$/;

// Created at the first file imported: a process that imports none (rq info, a producer) never loads jiti.
let jiti: JitiModule.Jiti | undefined;

const builtins = new Map<string, () => Promise<unknown>>();
// rq's own names are registered by builtins.ts, imported on first use to avoid an import cycle.
let builtinsLoaded: Promise<unknown> | null = null;

/** Registers a value under one of rq's dotted names (`rq.Worker`). */
export function registerBuiltin(name: string, load: () => Promise<unknown>): void {
  builtins.set(name, load);
}

function searchBases(options: ResolveOptions): string[] {
  const cwd = options.cwd ?? process.cwd();
  const bases = (options.paths ?? []).map((p) => (isAbsolute(p) ? p : resolvePath(cwd, p)));
  if (!bases.includes(cwd)) bases.push(cwd);
  return bases;
}

function findFile(base: string, modulePath: string, tried: string[]): string | null {
  const stem = join(base, modulePath);
  for (const ext of EXTENSIONS) {
    const file = stem + ext;
    tried.push(file);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  for (const ext of EXTENSIONS) {
    const file = join(stem, `index${ext}`);
    if (existsSync(file) && statSync(file).isFile()) return file;
  }
  return null;
}

/** Imports a module file (TypeScript included) once; later calls return the cached module. */
export async function importFile(file: string): Promise<Record<string, unknown>> {
  jiti ??= (requireCjs('jiti') as typeof JitiModule).createJiti(import.meta.url, { interopDefault: true, moduleCache: true });
  return (await jiti.import(file)) as Record<string, unknown>;
}

function findPackage(name: string, bases: string[]): string | null {
  for (const base of bases) {
    try {
      return createRequire(join(base, 'noop.js')).resolve(name);
    } catch {
      // not installed there
    }
  }
  return null;
}

function pick(mod: Record<string, unknown>, attrs: readonly string[]): { found: boolean; value: unknown; missing: string } {
  let value: unknown = mod;
  for (let i = 0; i < attrs.length; i++) {
    const attr = attrs[i]!;
    const holder = value as Record<string, unknown> | null | undefined;
    if (holder === null || holder === undefined) return { found: false, value: undefined, missing: attrs.slice(0, i + 1).join('.') };
    let next = holder[attr];
    if (next === undefined && i === 0) next = (holder.default as Record<string, unknown> | undefined)?.[attr];
    if (next === undefined) return { found: false, value: undefined, missing: attrs.slice(0, i + 1).join('.') };
    value = next;
  }
  return { found: true, value, missing: '' };
}

function checkKind(dotted: string, value: unknown, kind: ExpectedKind, what: string): unknown {
  if (kind === 'any') return value;
  if (typeof value !== 'function') {
    throw new ResolveError(`"${dotted}"${what ? ` (${what})` : ''} is a ${value === null ? 'null' : typeof value}, but a ${kind} is needed`);
  }
  const isClass = /^class[\s{]/.test(Function.prototype.toString.call(value));
  if (kind === 'class' && !isClass) {
    throw new ResolveError(`"${dotted}"${what ? ` (${what})` : ''} is a function, but a class is needed`);
  }
  return value;
}

/**
 * Resolves `dotted` to the value it names. `kind` checks what it is (a class where a class is
 * needed); `what` names the setting in error messages (e.g. `--worker-class`).
 */
export async function resolveDotted(dotted: string, options: ResolveOptions = {}, kind: ExpectedKind = 'any', what = ''): Promise<unknown> {
  const label = what ? ` (${what})` : '';
  if (typeof dotted !== 'string' || dotted.length === 0) {
    throw new ResolveError(`Expected a dotted path like "path.to.Name"${label}, got ${JSON.stringify(dotted)}`);
  }
  builtinsLoaded ??= import('./builtins.js');
  await builtinsLoaded;
  const builtin = builtins.get(dotted);
  if (builtin) return checkKind(dotted, await builtin(), kind, what);
  const parts = dotted.split('.');
  if (parts.length < 2 || !parts.every((p) => SEGMENT.test(p))) {
    throw new ResolveError(`Cannot resolve "${dotted}"${label}: expected module.path.Name, e.g. "tasks.send_newsletter" or "workers.custom.MyWorker"`);
  }
  const bases = searchBases(options);
  const tried: string[] = [];
  for (let split = parts.length - 1; split >= 1; split--) {
    const modulePath = parts.slice(0, split).join('/');
    const attrs = parts.slice(split);
    for (const base of bases) {
      const file = findFile(base, modulePath, tried);
      if (!file) continue;
      let mod: Record<string, unknown>;
      try {
        mod = await importFile(file);
      } catch (cause) {
        throw new ResolveError(`Cannot resolve "${dotted}"${label}: importing ${file} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
      }
      const got = pick(mod, attrs);
      if (!got.found) {
        throw new ResolveError(`Cannot resolve "${dotted}"${label}: module "${modulePath}" (${file}) has no export "${got.missing}"`);
      }
      return checkKind(dotted, got.value, kind, what);
    }
  }
  for (let split = parts.length - 1; split >= 1 && options.packages !== false; split--) {
    const name = parts.slice(0, split).join('/');
    const file = findPackage(name, bases);
    if (!file) continue;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(name.includes('/') ? file : name)) as Record<string, unknown>;
    } catch {
      mod = await importFile(file);
    }
    const got = pick(mod, parts.slice(split));
    if (!got.found) throw new ResolveError(`Cannot resolve "${dotted}"${label}: package "${name}" has no export "${got.missing}"`);
    return checkKind(dotted, got.value, kind, what);
  }
  const shown = tried.slice(0, 6).join(', ');
  throw new ResolveError(
    `Cannot resolve "${dotted}"${label}: no module found (tried ${shown}${tried.length > 6 ? `, and ${tried.length - 6} more` : ''}${options.packages === false ? '' : ', and installed packages'}); check the name and --path`,
  );
}

/**
 * Imports a module named by a dotted path (`app.preload`) or a file path (`./preload.ts`),
 * relative to cwd and the paths (for preloading before the first job).
 */
export async function importModule(spec: string, options: ResolveOptions = {}): Promise<Record<string, unknown>> {
  const bases = searchBases(options);
  if (spec.includes('/') || EXTENSIONS.some((ext) => spec.endsWith(ext))) {
    const file = isAbsolute(spec) ? spec : resolvePath(options.cwd ?? process.cwd(), spec);
    if (!existsSync(file)) throw new ResolveError(`Cannot import "${spec}": ${file} does not exist`);
    return importFile(file);
  }
  const tried: string[] = [];
  const modulePath = spec.split('.').join('/');
  for (const base of bases) {
    const file = findFile(base, modulePath, tried);
    if (file) return importFile(file);
  }
  const pkg = findPackage(spec, bases);
  if (pkg) return importFile(pkg);
  throw new ResolveError(`Cannot import "${spec}": no module found (tried ${tried.slice(0, 6).join(', ')}, and installed packages)`);
}

/** A plugin from a dotted path: a class (instantiated with no arguments) or an object with `apply`. */
export async function instantiatePlugin(dotted: string, options: ResolveOptions = {}): Promise<{ apply(worker: never): void }> {
  const value = await resolveDotted(dotted, options, 'any', 'plugin');
  const candidate = typeof value === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(value))
    ? new (value as new () => unknown)()
    : value;
  if (!candidate || typeof (candidate as { apply?: unknown }).apply !== 'function') {
    throw new ResolveError(`"${dotted}" (plugin) is not a plugin: expected a class whose instances have apply(worker), or an object with apply(worker)`);
  }
  return candidate as { apply(worker: never): void };
}
