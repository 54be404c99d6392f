import assert from 'node:assert/strict';
import { inflateSync, deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { zlibCompress, zlibDecompress } from '../../lib/zlib.js';

describe('zlib streams for rq data', () => {
  it('small payloads become one stored block that any zlib inflates', () => {
    const data = Buffer.from('["tasks.add", null, [1, 2], {}]');
    const z = zlibCompress(data);
    assert.equal(z.length, data.length + 11, 'header + block header + data + adler32');
    assert.deepEqual(inflateSync(z), data, "node's zlib reads it");
    assert.deepEqual(zlibDecompress(z), data);
  });

  it('large payloads are deflated; any zlib stream (e.g. Python’s) is read', () => {
    const big = Buffer.from('x'.repeat(5000));
    const z = zlibCompress(big);
    assert.ok(z.length < 200, 'compressed');
    assert.deepEqual(zlibDecompress(z), big);
    assert.deepEqual(zlibDecompress(deflateSync(Buffer.from('hello'))), Buffer.from('hello'));
  });

  it('checks the frame: a corrupted stored block is not sliced out blindly', () => {
    const z = zlibCompress(Buffer.from('hello world'));
    z[z.length - 1] = (z[z.length - 1] ?? 0) ^ 0xff;
    assert.throws(() => zlibDecompress(z));
    assert.throws(() => zlibDecompress(Buffer.from('not zlib at all')));
  });
});
