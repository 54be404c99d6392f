/**
 * Redis Cluster's key slot (CRC16-XMODEM of the key, or of its first non-empty `{...}` hash tag,
 * modulo 16384), as the cluster computes it: rq-ts refuses a script whose keys cross slots before
 * sending it, with a message that names the keys, instead of the server's bare CROSSSLOT.
 */
const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  TABLE[i] = c;
}

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const b of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** The part of a key that is hashed: the first `{...}` with something inside, else the whole key. */
function hashPart(key: Buffer): Buffer {
  const open = key.indexOf(0x7b); // '{'
  if (open === -1) return key;
  const close = key.indexOf(0x7d, open + 1); // '}'
  if (close === -1 || close === open + 1) return key;
  return key.subarray(open + 1, close);
}

export function keySlot(key: string | Buffer): number {
  return crc16(hashPart(typeof key === 'string' ? Buffer.from(key) : key)) % 16384;
}
