import { deflateSync, inflateSync } from 'node:zlib';

/**
 * rq stores job data and exc_info as zlib streams. For small payloads rq-ts writes a zlib stream of
 * one *stored* (uncompressed) deflate block: any zlib reads it (Python's zlib.decompress included),
 * and it costs a microsecond where deflateSync costs ~20 µs of a per-job budget of a few hundred
 * (compressing 100 bytes of JSON saves little anyway). Larger payloads are deflated as rq does.
 */
const STORED_MAX = 1024;

function adler32(buf: Buffer): number {
  let a = 1;
  let b = 0;
  // 3800 bytes keep b below 2^31 before the modulo (the usual NMAX is 5552 for 32-bit unsigned).
  for (let i = 0; i < buf.length; ) {
    const end = Math.min(i + 3800, buf.length);
    for (; i < end; i++) {
      a += buf[i]!;
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return ((b << 16) | a) >>> 0;
}

export function zlibCompress(data: Buffer): Buffer {
  if (data.length > STORED_MAX) return deflateSync(data);
  const out = Buffer.allocUnsafe(data.length + 11);
  out[0] = 0x78; // deflate, 32 KiB window
  out[1] = 0x01; // no preset dictionary, fastest level; (0x78 << 8 | 0x01) % 31 === 0
  out[2] = 0x01; // final block, stored
  out.writeUInt16LE(data.length, 3);
  out.writeUInt16LE(~data.length & 0xffff, 5);
  data.copy(out, 7);
  out.writeUInt32BE(adler32(data), 7 + data.length);
  return out;
}

/** Inverse of zlibCompress, and of any zlib stream (rq's, Python's). Throws on non-zlib input. */
export function zlibDecompress(data: Buffer): Buffer {
  // Our own single stored block: slice it out after checking its frame and checksum.
  if (data.length >= 11 && data[0] === 0x78 && ((data[0] << 8) | data[1]!) % 31 === 0 && data[2] === 0x01) {
    const len = data.readUInt16LE(3);
    if ((data.readUInt16LE(5) ^ 0xffff) === len && data.length === len + 11) {
      const body = data.subarray(7, 7 + len);
      if (adler32(body) === data.readUInt32BE(7 + len)) return body;
    }
  }
  return inflateSync(data);
}
