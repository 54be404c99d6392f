import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JSONSerializer, pythonJsonDumps, SerializationError, DeserializationError } from '../../lib/index.js';
import { callString, pyrepr } from '../../lib/pyrepr.js';
import { utcformat, utcparse } from '../../lib/time.js';

describe('JSONSerializer (Python json.dumps byte format)', () => {
  it("uses Python's separators and escapes non-ASCII as \\uXXXX", () => {
    assert.equal(pythonJsonDumps(['jobs.add', null, [1, 2], {}]), '["jobs.add", null, [1, 2], {}]');
    assert.equal(pythonJsonDumps({ k: 'v', n: [true, false, 2.5] }), '{"k": "v", "n": [true, false, 2.5]}');
    assert.equal(pythonJsonDumps('café \u007f 😀'), '"caf\\u00e9 \\u007f \\ud83d\\ude00"');
    assert.equal(pythonJsonDumps('a"b\\c\n'), '"a\\"b\\\\c\\n"');
  });

  it('round-trips through loads', () => {
    const value = { a: [1, { b: 'ü' }], c: null };
    assert.deepEqual(JSONSerializer.loads(JSONSerializer.dumps(value)), value);
  });

  it('refuses values JSON cannot carry, naming where they are', () => {
    assert.throws(() => pythonJsonDumps([1, () => 1], 'args'), (e: unknown) => e instanceof SerializationError && /args\[1\] is function/.test(e.message));
    assert.throws(() => pythonJsonDumps({ when: new Date() }, 'kwargs'), /kwargs\.when is an instance of Date.*toISOString/);
    assert.throws(() => pythonJsonDumps([NaN]), /NaN, which JSON cannot represent/);
    assert.throws(() => pythonJsonDumps([10n]), SerializationError);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    assert.throws(() => pythonJsonDumps(loop), /circular/);
    // The path of a value deep down, past keys and indexes already written.
    assert.throws(() => pythonJsonDumps([1, { a: [2, 3, { ok: 1, when: new Date(0) }] }], 'args'), (e: unknown) => e instanceof SerializationError && e.message.startsWith('args[1].a[2].when is an instance of Date'));
  });

  it('writes a shared (not circular) object each time, and a hole of a sparse array as null, as JSON.stringify does', () => {
    const shared = { n: 1 };
    assert.equal(pythonJsonDumps([shared, { again: shared }]), '[{"n": 1}, {"again": {"n": 1}}]');
    // eslint-disable-next-line no-sparse-arrays
    assert.equal(pythonJsonDumps([1, , 3]), JSON.stringify([1, , 3]).replace(/,/g, ', '));
  });

  it('fails to load garbage with a DeserializationError', () => {
    assert.throws(() => JSONSerializer.loads(Buffer.from('{nope')), DeserializationError);
  });
});

describe("Python repr and rq's call string", () => {
  it('formats like Python', () => {
    assert.equal(pyrepr("it's"), '"it\'s"');
    assert.equal(pyrepr('a\'b"c'), "'a\\'b\"c'");
    assert.equal(pyrepr({ z: [1, 2.5, null, true] }), "{'z': [1, 2.5, None, True]}");
    assert.equal(callString('send_newsletter', ['me@nvie.com'], {}), "send_newsletter('me@nvie.com')");
    assert.equal(callString('tasks.add', [1], { k: 2, a: 'x' }), "tasks.add(1, a='x', k=2)");
  });

  it('cuts each argument repr at 75 characters', () => {
    const s = callString('f', ['x'.repeat(80)], {});
    assert.equal(s, `f('${'x'.repeat(74)}...)`);
  });
});

describe('rq timestamps', () => {
  it('formats with microseconds and Z, parses 1-6 fraction digits and none', () => {
    const d = new Date(Date.UTC(2026, 10, 27, 4, 57, 9, 722));
    assert.equal(utcformat(d), '2026-11-27T04:57:09.722000Z');
    assert.equal(utcparse('2026-11-27T04:57:09.722477Z')?.getTime(), d.getTime());
    assert.equal(utcparse('2026-11-27T04:57:09.7Z')?.getTime(), Date.UTC(2026, 10, 27, 4, 57, 9, 700));
    assert.equal(utcparse('2026-11-27T04:57:09Z')?.getTime(), Date.UTC(2026, 10, 27, 4, 57, 9));
    assert.equal(utcparse(''), null);
    assert.equal(utcparse('2026-11-27 04:57:09+00:00'), null);
  });

  it('formats every instant as toISOString does, with three more fraction digits', () => {
    const fixed = [0, Date.UTC(999, 0, 1), Date.UTC(2000, 1, 29, 23, 59, 59, 999), Date.UTC(9999, 11, 31, 23, 59, 59, 9), Date.UTC(12345, 0, 1)];
    let seed = 7;
    const random = Array.from({ length: 2000 }, () => {
      seed = (seed * 48271) % 2147483647;
      return (seed / 2147483647) * 4e12;
    });
    for (const t of [...fixed, ...random]) {
      const d = new Date(Math.floor(t));
      assert.equal(utcformat(d), `${d.toISOString().slice(0, -1)}000Z`, d.toISOString());
      assert.equal(utcparse(utcformat(d))?.getTime(), d.getUTCFullYear() <= 9999 ? d.getTime() : undefined);
    }
  });
});
