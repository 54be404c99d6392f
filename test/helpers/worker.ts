import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { inflateSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { epochSeconds, type Logger, type RqPlugin } from '../../lib/index.js';

/** The repository root (dist/test/helpers/worker.js -> ../../..): where `test.fixtures.tasks.*` resolves. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Dotted path of a function in test/fixtures/tasks.ts. */
export const task = (name: string): string => `test.fixtures.tasks.${name}`;

/** A plugin that notes, as each job starts, how many outcomes the worker has seen recorded (its successfulJobCount). */
export function outcomesSeenAtStart(): { plugin: RqPlugin; counts: number[] } {
  const counts: number[] = [];
  const plugin: RqPlugin = {
    apply(w) {
      w.hooks.prepare.tapPromise({ name: 'RecordedAtStart', stage: -100 }, async (job) => {
        counts.push(w.successfulJobCount);
        return job;
      });
    },
  };
  return { plugin, counts };
}

/** A logger that keeps every line (`LEVEL message`), for asserting on what a worker logged. */
export function collectingLogger(): Logger & { lines: string[]; has(text: string): boolean; count(text: string): number } {
  const lines: string[] = [];
  const push = (level: string) => (message: string) => {
    lines.push(`${level} ${message}`);
  };
  return {
    lines,
    debug: push('DEBUG'),
    info: push('INFO'),
    warning: push('WARNING'),
    error: push('ERROR'),
    has: (text) => lines.some((l) => l.includes(text)),
    count: (text) => lines.filter((l) => l.includes(text)).length,
  };
}

/** The entries of `rq:results:<id>`, oldest first, as field maps. */
export async function streamEntries(redis: Redis, id: string): Promise<Record<string, string>[]> {
  const entries = await redis.xrange(`rq:results:${id}`, '-', '+');
  return entries.map(([, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return fields;
  });
}

/** The traceback text of the job's latest failure: the result stream's exc_string (base64 -> zlib), else the hash's exc_info. */
export async function excText(redis: Redis, id: string): Promise<string> {
  const entries = await streamEntries(redis, id);
  const last = entries[entries.length - 1];
  if (last?.exc_string) return inflateSync(Buffer.from(last.exc_string, 'base64')).toString('utf8');
  const raw = await redis.hgetBuffer(`rq:job:${id}`, 'exc_info');
  return raw ? inflateSync(raw).toString('utf8') : '';
}

/** The return value of the job's latest successful run, decoded from the result stream (JSON serializer). */
export async function returnValue(redis: Redis, id: string): Promise<unknown> {
  const entries = await streamEntries(redis, id);
  const last = entries[entries.length - 1];
  if (!last || last.type !== '1') throw new Error(`job ${id} has no successful result (stream: ${JSON.stringify(entries)})`);
  return last.return_value === undefined ? null : JSON.parse(Buffer.from(last.return_value, 'base64').toString('utf8'));
}

export async function status(redis: Redis, id: string): Promise<string | null> {
  return redis.hget(`rq:job:${id}`, 'status');
}

/** A score `now + ttl` as the worker wrote it a moment ago. */
export function assertScoreNear(score: string | null, ttl: number, what: string): void {
  assert.ok(score !== null, `${what}: no score`);
  const expected = epochSeconds() + ttl;
  assert.ok(Math.abs(Number(score) - expected) <= 3, `${what}: score ${score}, expected about ${expected}`);
}

/** A TTL set a moment ago to `expected` seconds. */
export function assertTtlNear(ttl: number, expected: number, what: string): void {
  assert.ok(ttl <= expected && ttl >= expected - 5, `${what}: TTL ${ttl}, expected about ${expected}`);
}
