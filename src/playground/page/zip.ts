/**
 * A zip archive of a folder's files, written in the page (no library in node_modules does this in
 * the browser): entries stored without compression (model weights barely compress), CRC-32 per
 * entry, UTF-8 names. The playground offers it to save a trained model where the browser cannot
 * write a folder (no `showDirectoryPicker`). Archives over 4 GiB (zip64) are refused.
 */

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, the zip format's), of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const LIMIT = 0xffffffff;

/** The zip archive of `files` (path inside the archive -> content), in the order given. */
export function zipFiles(files: Readonly<Record<string, Uint8Array>>): Uint8Array {
  const encoder = new TextEncoder();
  const entries = Object.entries(files).map(([name, data]) => ({
    name: encoder.encode(name),
    data,
    crc: crc32(data),
    offset: 0,
  }));
  let size = 22;
  for (const e of entries) size += 30 + e.name.length + e.data.length + 46 + e.name.length;
  if (size > LIMIT || entries.length > 0xffff)
    throw new Error(`the model is too large for a zip archive without zip64 (${size} bytes)`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const header = (signature: number) => {
    view.setUint32(at, signature, true);
    at += 4;
  };
  const u16 = (v: number) => {
    view.setUint16(at, v, true);
    at += 2;
  };
  const u32 = (v: number) => {
    view.setUint32(at, v, true);
    at += 4;
  };
  // Version 2.0, flag bit 11 (names are UTF-8), method 0 (stored), time 00:00, date 1980-01-01.
  const common = (e: (typeof entries)[number]) => {
    u16(20);
    u16(0x0800);
    u16(0);
    u16(0);
    u16(0x21);
    u32(e.crc);
    u32(e.data.length);
    u32(e.data.length);
    u16(e.name.length);
    u16(0);
  };
  for (const e of entries) {
    e.offset = at;
    header(0x04034b50);
    common(e);
    out.set(e.name, at);
    at += e.name.length;
    out.set(e.data, at);
    at += e.data.length;
  }
  const central = at;
  for (const e of entries) {
    header(0x02014b50);
    u16(20); // made by: version 2.0
    common(e);
    u16(0); // comment length
    u16(0); // disk number
    u16(0); // internal attributes
    u32(0); // external attributes
    u32(e.offset);
    out.set(e.name, at);
    at += e.name.length;
  }
  const centralSize = at - central;
  header(0x06054b50);
  u16(0);
  u16(0);
  u16(entries.length);
  u16(entries.length);
  u32(centralSize);
  u32(central);
  u16(0);
  return out;
}
