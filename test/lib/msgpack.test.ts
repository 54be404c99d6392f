/**
 * Script arguments travel as one MessagePack array (lib/redis/msgpack.ts): each packing below is
 * decoded by the real redis-server's cmsgpack, as the scripts decode their ARGV.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import { packArgs, type PackedArg } from '../../lib/redis/msgpack.js';
import { useRedis } from '../helpers/redis.js';

let redis: Redis;
useRedis((_server, r) => {
  redis = r;
});

/** What Redis' Lua sees after `cmsgpack.unpack`: the items as byte strings, and their count. */
async function unpacked(args: readonly PackedArg[]): Promise<Buffer[]> {
  const reply = (await redis.callBuffer('EVAL', 'local a = cmsgpack.unpack(ARGV[1]); return {#a, unpack(a)}', '0', packArgs(args))) as [number, ...Buffer[]];
  const [count, ...items] = reply;
  assert.equal(count, args.length);
  return items;
}

const bytes = (a: PackedArg): Buffer => (Buffer.isBuffer(a) ? a : Buffer.from(String(a)));

describe('packed script arguments', () => {
  it('an empty list, and every length boundary of the array and string headers', async () => {
    assert.deepEqual(await unpacked([]), []);
    for (const n of [1, 15, 16, 40]) {
      const args = Array.from({ length: n }, (_, i) => `v${i}`);
      assert.deepEqual(await unpacked(args), args.map(bytes), `${n} items`);
    }
    const args = [0, 1, 31, 32, 255, 256, 65535, 65536, 100_000].map((len) => 'x'.repeat(len));
    assert.deepEqual(await unpacked(args), args.map(bytes));
  });

  it('binary data (NUL, 0xff), multi-byte UTF-8 and numbers arrive byte for byte', async () => {
    const binary = Buffer.from([0, 255, 0x90, 0xda, 0xdb, 10, 13, 0]);
    const args: PackedArg[] = [binary, 'zoë — 日本', 1.5, -1, 180, Buffer.alloc(70_000, 0xc4), ''];
    assert.deepEqual(await unpacked(args), args.map(bytes));
  });
});

describe('packed list arguments', () => {
  it('a list argument arrives as a nested Lua table, items byte for byte', async () => {
    const long = Array.from({ length: 20 }, (_, i) => `f${i}`);
    const args: PackedArg[] = ['a', ['x', 2, Buffer.from([0, 255])], [], long, 'z'];
    const lua = 'local a = cmsgpack.unpack(ARGV[1]); return {#a, a[1], #a[2], a[2][1], a[2][2], a[2][3], #a[3], #a[4], a[4][20], a[5]}';
    const reply = (await redis.callBuffer('EVAL', lua, '0', packArgs(args))) as unknown[];
    assert.deepEqual(reply, [5, Buffer.from('a'), 3, Buffer.from('x'), Buffer.from('2'), Buffer.from([0, 255]), 0, 20, Buffer.from('f19'), Buffer.from('z')]);
  });
});

describe('packed short strings', () => {
  it('short strings copied byte by byte: ASCII, and non-ASCII anywhere in them, around the 64-character cut', async () => {
    const args: PackedArg[] = ['x'.repeat(63), 'x'.repeat(64), `${'x'.repeat(62)}é`, `é${'x'.repeat(30)}`, 'é'.repeat(40), '\u007f\u0080', '\ud83d\ude00'];
    assert.deepEqual(await unpacked(args), args.map(bytes));
  });
});
