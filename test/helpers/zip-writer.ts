import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntryInput {
  /** Its path in the ZIP ("/" between folders). */
  name: string;
  data: Buffer | string;
  /** 'deflate' (default) or 'store'. */
  method?: 'deflate' | 'store';
  /** A compression method number to write instead (e.g. 12, bzip2), with the data stored. */
  methodNumber?: number;
  /** The uncompressed size the headers declare, when a test wants it to lie. */
  declaredSize?: number;
  /** Sets the "encrypted" flag (the data is not encrypted: only readers that check flags notice). */
  encryptedFlag?: boolean;
}

/**
 * The bytes of a ZIP holding `entries` (APPNOTE 6.3: local headers, data, central directory,
 * end record; no ZIP64, no data descriptors), for tests that need ZIPs no archiver in
 * node_modules would write: shards, bombs, sizes that lie. Names are UTF-8 (flag bit 11).
 */
export function zipBytes(entries: ZipEntryInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = typeof entry.data === 'string' ? Buffer.from(entry.data, 'utf8') : entry.data;
    const deflate = entry.methodNumber === undefined && entry.method !== 'store';
    const stored = deflate ? deflateRawSync(data) : data;
    const method = entry.methodNumber ?? (deflate ? 8 : 0);
    const flags = 0x0800 | (entry.encryptedFlag ? 0x0001 : 0);
    const size = entry.declaredSize ?? data.length;
    const crc = crc32(data);

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(flags, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // time
    local.writeUInt16LE(0x5a21, 12); // date: 2025-01-01
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28); // extra
    locals.push(local, name, stored);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(0x0314, 4); // made by: UNIX, 2.0
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(flags, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt16LE(0, 12);
    central.writeUInt16LE(0x5a21, 14);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt16LE(0, 30); // extra
    central.writeUInt16LE(0, 32); // comment
    central.writeUInt16LE(0, 34); // disk
    central.writeUInt16LE(0, 36); // internal attributes
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);

    offset += local.length + name.length + stored.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(0, 4);
  end.writeUInt16LE(0, 6);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  end.writeUInt16LE(0, 20);
  return Buffer.concat([...locals, directory, end]);
}
