import { PassThrough, Transform, type Readable, type TransformCallback } from 'node:stream';
import { type Entry, type ZipFile, RandomAccessReader, fromRandomAccessReaderPromise } from 'yauzl';
import type { ByteSource } from './byte-source';
import { type ImportLimits, formatBytes } from './import-limits';
import { ByteSourceError, ImportReadError } from './import-read-error';
import { cutText } from './mapped-conversation';

/** One conversations file of a ZIP, opened on demand as the inflated bytes. */
export interface ZipConversationsEntry {
  /** Its path in the ZIP, for messages. */
  name: string;
  open(): Promise<Readable>;
}

export interface ZipConversations {
  /** In reading order: the folders by name; in each, its shards by number, or conversations.json. */
  entries: ZipConversationsEntry[];
  close(): void;
}

// conversations.json, or its parts conversations-000.json, conversations-001.json, … in any folder
const CONVERSATIONS_ENTRY = /^(?:(.*)\/)?conversations(?:-(\d{1,9}))?\.json$/;
// What yauzl reads are small pieces (46-byte directory records, names, 30-byte local headers):
// one storage read serves a window of them.
const READ_WINDOW = 256 * 1024;

/**
 * Reads a ZIP's central directory (with yauzl, through `source`'s ranges) and picks the entries
 * that hold ChatGPT conversations, refusing before any of them is inflated: more entries than
 * `maxZipEntries`, encrypted or exotic entries, an entry that declares far more than its
 * compressed size (ratio and floor), conversation entries declaring more than
 * `maxZipUncompressedBytes` together. What an entry inflates to is counted as it streams, so
 * that a size that lies is caught too.
 */
export async function openZip(source: ByteSource, limits: ImportLimits): Promise<ZipConversations> {
  let zipfile: ZipFile;
  try {
    zipfile = await fromRandomAccessReaderPromise(new SourceReader(source), source.size, {
      lazyEntries: true,
      autoClose: false,
      // we count the inflated bytes ourselves, to tell a ZIP bomb from a damaged entry
      validateEntrySizes: false,
      strictFileNames: false,
      decodeStrings: true,
    });
  } catch (error) {
    throw zipError(error, 'The ZIP is damaged: its table of contents cannot be read.');
  }
  try {
    if (zipfile.entryCount > limits.maxZipEntries) {
      throw new ImportReadError(
        'zip_too_large',
        `The ZIP lists ${zipfile.entryCount} entries, more than the ${limits.maxZipEntries} we read.`,
      );
    }
    const folders = new Map<string, { plain: Entry | null; shards: [number, Entry][] }>();
    try {
      for await (const entry of zipfile.eachEntry()) {
        const match = CONVERSATIONS_ENTRY.exec(entry.fileName);
        if (!match || entry.fileName.startsWith('__MACOSX/')) continue;
        const folder = match[1] ?? '';
        const found = folders.get(folder) ?? { plain: null, shards: [] };
        folders.set(folder, found);
        if (match[2] === undefined) found.plain = entry;
        else found.shards.push([Number(match[2]), entry]);
      }
    } catch (error) {
      throw zipError(error, 'The ZIP is damaged: its table of contents cannot be read.');
    }
    const chosen: Entry[] = [];
    for (const folder of [...folders.keys()].sort()) {
      const { plain, shards } = folders.get(folder)!;
      // A folder holds either the whole conversations.json or its parts; when both, the parts.
      if (shards.length > 0) chosen.push(...shards.sort(([a], [b]) => a - b).map(([, e]) => e));
      else if (plain) chosen.push(plain);
    }
    let declared = 0;
    for (const entry of chosen) {
      checkEntry(entry, limits);
      declared += entry.uncompressedSize;
      if (declared > limits.maxZipUncompressedBytes) {
        throw new ImportReadError(
          'zip_too_large',
          `The conversations in the ZIP inflate to more than the ${formatBytes(limits.maxZipUncompressedBytes)} we read.`,
        );
      }
    }
    const open = zipfile;
    return {
      entries: chosen.map((entry) => ({
        name: entryName(entry),
        open: () => openEntry(open, entry),
      })),
      close: () => open.close(),
    };
  } catch (error) {
    zipfile.close();
    throw error;
  }
}

function checkEntry(entry: Entry, limits: ImportLimits): void {
  const name = entryName(entry);
  if (entry.isEncrypted()) {
    throw new ImportReadError('zip_unsupported', `${name} in the ZIP is encrypted.`);
  }
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new ImportReadError(
      'zip_unsupported',
      `${name} in the ZIP is compressed with a method we do not read (only stored and deflated).`,
    );
  }
  if (entry.compressionMethod === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw new ImportReadError('malformed', `${name} in the ZIP declares sizes that disagree.`);
  }
  if (
    entry.uncompressedSize > limits.zipRatioMinBytes &&
    entry.uncompressedSize > limits.maxZipRatio * entry.compressedSize
  ) {
    const ratio = Math.round(entry.uncompressedSize / Math.max(1, entry.compressedSize));
    throw new ImportReadError(
      'zip_bomb',
      `${name} in the ZIP would inflate ${ratio} times its compressed size, to ${formatBytes(entry.uncompressedSize)}: refused as a ZIP bomb.`,
    );
  }
}

function openEntry(zipfile: ZipFile, entry: Entry): Promise<Readable> {
  const name = entryName(entry);
  return new Promise((resolve, reject) => {
    zipfile.openReadStream(entry, (error, stream) => {
      if (error) return reject(zipError(error, `${name} in the ZIP is damaged.`));
      const counted = new InflatedBytes(entry.uncompressedSize, name);
      stream.on('error', (e) => counted.destroy(zipError(e, `${name} in the ZIP is damaged.`)));
      counted.on('close', () => stream.destroy());
      resolve(stream.pipe(counted));
    });
  });
}

/** Passes an entry's inflated bytes on, failing as soon as they exceed what it declares. */
class InflatedBytes extends Transform {
  private bytes = 0;

  constructor(
    private readonly declared: number,
    private readonly name: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
    this.bytes += chunk.length;
    if (this.bytes > this.declared) {
      return callback(
        new ImportReadError(
          'zip_bomb',
          `${this.name} in the ZIP inflates to more than the ${formatBytes(this.declared)} it declares: refused as a ZIP bomb.`,
        ),
      );
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback) {
    callback(
      this.bytes < this.declared
        ? new ImportReadError('malformed', `${this.name} in the ZIP is shorter than it declares.`)
        : null,
    );
  }
}

/**
 * yauzl's view of a ByteSource. Small reads are served from a window read ahead, so that a
 * directory of thousands of entries costs a few storage reads, not one per entry. Errors of
 * the source are wrapped (ByteSourceError) to be told from a damaged ZIP.
 */
class SourceReader extends RandomAccessReader {
  private window: { start: number; bytes: Buffer } | null = null;

  constructor(private readonly source: ByteSource) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    const stream = this.source.createReadStream(start, end);
    const out = new PassThrough();
    stream.on('error', (error) => out.destroy(new ByteSourceError(error)));
    out.on('close', () => stream.destroy());
    return stream.pipe(out);
  }

  override read(
    buffer: Buffer,
    offset: number,
    length: number,
    position: number,
    // yauzl's callback also takes the number of bytes read (its types leave it out)
    done: (err: Error | null, bytesRead?: number) => void,
  ): void {
    const copy = (window: { start: number; bytes: Buffer }) => {
      const from = position - window.start;
      const to = Math.min(window.bytes.length, from + length);
      window.bytes.copy(buffer, offset, from, to);
      done(null, Math.max(0, to - from));
    };
    const window = this.window;
    if (
      window &&
      position >= window.start &&
      position + length <= window.start + window.bytes.length
    ) {
      setImmediate(() => copy(window));
      return;
    }
    const end = Math.min(this.source.size, position + Math.max(length, READ_WINDOW));
    const chunks: Buffer[] = [];
    const stream = this.source.createReadStream(position, Math.max(position, end));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (error) => done(new ByteSourceError(error)));
    stream.on('end', () => {
      this.window = { start: position, bytes: Buffer.concat(chunks) };
      copy(this.window);
    });
  }
}

function zipError(error: unknown, message: string): Error {
  if (error instanceof ByteSourceError || error instanceof ImportReadError) return error;
  return new ImportReadError('malformed', message);
}

function entryName(entry: Entry): string {
  return cutText(entry.fileName.replace(/\p{Cc}/gu, '?'), 120).text;
}
