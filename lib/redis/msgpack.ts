/**
 * Script arguments packed into one MessagePack array of strings, which the scripts unpack with
 * Redis' built-in `cmsgpack` (scripts.ts). ioredis' cost is per argument (type checks, length
 * headers, one chunk each): an outcome or enqueue script has 20-40 arguments, and one packed
 * argument takes 15-20 µs off each call's round trip on this machine (docs/performance.md).
 * An argument that is a list (a job's hash fields, a chunk of jobs) is a nested array: a Lua table.
 *
 * Only the formats both MessagePack specs share are written (fixarray/array 16/32, fixraw/raw
 * 16/32), which every cmsgpack decodes into Lua strings, binary data included.
 */
export type PackedArg = string | number | Buffer | readonly PackedArg[];

/** The items in write order: a string or Buffer, or an array header (its length in `lengths`). */
type Item = string | Buffer | null;

function headerSize(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/**
 * Below this many characters a string is measured and copied in JavaScript when it is ASCII: two
 * native calls each (Buffer.byteLength, buffer.write) were most of the cost of packing the many tiny
 * arguments of a call (flags, counts, modes). Longer ones go native: the per-character loop was
 * slower for ids and timestamps (a timestamp built by concatenation is a rope that charCodeAt walks
 * slowly), which enqueueMany packs by the thousand: 64 here made packing a chunk 2x slower (2.0 vs
 * 1.0 µs per job), with no difference for an outcome script's arguments.
 */
const SHORT = 16;

/** The UTF-8 length of `s`: its length when it is short ASCII, which write() then copies itself. */
function byteLength(s: string): number {
  if (s.length >= SHORT) return Buffer.byteLength(s);
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s);
  }
  return s.length;
}

function measure(args: readonly PackedArg[], items: Item[], lengths: number[]): number {
  items.push(null);
  lengths.push(args.length);
  let size = headerSize(args.length);
  for (const a of args) {
    if (Array.isArray(a)) {
      size += measure(a as readonly PackedArg[], items, lengths);
      continue;
    }
    const item = typeof a === 'number' ? String(a) : (a as string | Buffer);
    const len = typeof item === 'string' ? byteLength(item) : item.length;
    items.push(item);
    lengths.push(len);
    size += (len < 32 ? 1 : len < 0x10000 ? 3 : 5) + len;
  }
  return size;
}

export function packArgs(args: readonly PackedArg[]): Buffer {
  const items: Item[] = [];
  const lengths: number[] = [];
  const out = Buffer.allocUnsafe(measure(args, items, lengths));
  let at = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const len = lengths[i]!;
    if (item === null) {
      if (len < 16) {
        out[at++] = 0x90 | len;
      } else if (len < 0x10000) {
        out[at] = 0xdc;
        out.writeUInt16BE(len, at + 1);
        at += 3;
      } else {
        out[at] = 0xdd;
        out.writeUInt32BE(len, at + 1);
        at += 5;
      }
      continue;
    }
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
    if (typeof item !== 'string') item.copy(out, at);
    // as many bytes as characters: ASCII (any other character takes two or more)
    else if (len === item.length && len < SHORT) for (let j = 0; j < len; j++) out[at + j] = item.charCodeAt(j);
    else out.write(item, at, len);
    at += len;
  }
  return out;
}
