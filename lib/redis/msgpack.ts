/**
 * Script arguments packed into one MessagePack array of strings, which the scripts unpack with
 * Redis' built-in `cmsgpack` (scripts.ts). ioredis' cost is per argument (type checks, length
 * headers, one chunk each): an outcome or enqueue script has 20-40 arguments, and one packed
 * argument takes 15-20 µs off each call's round trip on this machine (docs/performance.md).
 *
 * Only the formats both MessagePack specs share are written (fixarray/array 16/32, fixraw/raw
 * 16/32), which every cmsgpack decodes into Lua strings, binary data included.
 */
export type PackedArg = string | number | Buffer;

export function packArgs(args: readonly PackedArg[]): Buffer {
  const n = args.length;
  let size = n < 16 ? 1 : n < 0x10000 ? 3 : 5;
  const items: (string | Buffer)[] = new Array(n);
  const lengths: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const a = args[i]!;
    const item = typeof a === 'number' ? String(a) : a;
    const len = typeof item === 'string' ? Buffer.byteLength(item) : item.length;
    items[i] = item;
    lengths[i] = len;
    size += (len < 32 ? 1 : len < 0x10000 ? 3 : 5) + len;
  }
  const out = Buffer.allocUnsafe(size);
  let at: number;
  if (n < 16) {
    out[0] = 0x90 | n;
    at = 1;
  } else if (n < 0x10000) {
    out[0] = 0xdc;
    out.writeUInt16BE(n, 1);
    at = 3;
  } else {
    out[0] = 0xdd;
    out.writeUInt32BE(n, 1);
    at = 5;
  }
  for (let i = 0; i < n; i++) {
    const len = lengths[i]!;
    if (len < 32) {
      out[at++] = 0xa0 | len;
    } else if (len < 0x10000) {
      out[at] = 0xda;
      out.writeUInt16BE(len, at + 1);
      at += 3;
    } else {
      out[at] = 0xdb;
      out.writeUInt32BE(len, at + 1);
      at += 5;
    }
    const item = items[i]!;
    if (typeof item === 'string') out.write(item, at, len);
    else item.copy(out, at);
    at += len;
  }
  return out;
}
