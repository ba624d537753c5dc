import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';

/**
 * The stored bytes of an upload, readable by range. A ZIP is read from its end (the central
 * directory) and then at each entry's offset, so the reader needs random access, not one
 * stream; JSON is read as one range from 0 to `size`.
 *
 * Why a range reader rather than a temporary file: the upload is stored in PostgreSQL so that
 * any instance can run the import, and both ways of storing it there read a range cheaply
 * (a large object: lo_lseek + loread; chunked rows: the rows whose numbers cover the range).
 * A temporary file would cost a full copy, as much free disk as the upload, and a clean-up
 * after a crash, on whichever instance claims the import. For a file on disk, use
 * `fileByteSource`.
 */
export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /**
   * The bytes from `start` (inclusive) to `end` (exclusive), `0 <= start <= end <= size`, as a
   * byte stream. It must end after exactly `end - start` bytes, or fail with an error: an
   * error of the storage, passed on as it came to the caller of the reading layer.
   */
  createReadStream(start: number, end: number): Readable;
}

/** A file on disk. */
export async function fileByteSource(path: string): Promise<ByteSource> {
  const { size } = await stat(path);
  return {
    size,
    createReadStream: (start, end) =>
      end > start
        ? createReadStream(path, { start, end: end - 1, highWaterMark: 64 * 1024 })
        : Readable.from([], { objectMode: false }),
  };
}

/** Bytes in memory (tests, small files), streamed in chunks of `chunkSize`. */
export function bufferByteSource(buffer: Buffer, chunkSize = 64 * 1024): ByteSource {
  return {
    size: buffer.length,
    createReadStream: (start, end) =>
      Readable.from(chunks(buffer.subarray(start, end), chunkSize), { objectMode: false }),
  };
}

function* chunks(bytes: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}
