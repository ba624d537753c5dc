import { Readable } from 'node:stream';
import type { ByteSource } from './formats';
import type { ImportsRepository } from './imports.repository';

/** The size of an upload's rows (import_chunks): the last one of an upload is shorter. */
export const CHUNK_BYTES = 1024 * 1024;

/**
 * An upload stored as import_chunks, read by range: each read is one statement for the part of
 * one row it needs, issued as the reader asks for more (never more than a row in memory).
 */
export function storedUpload(
  repository: ImportsRepository,
  importId: string,
  size: number,
): ByteSource {
  async function* range(start: number, end: number): AsyncGenerator<Buffer> {
    for (let at = start; at < end;) {
      const seq = Math.floor(at / CHUNK_BYTES);
      const offset = at - seq * CHUNK_BYTES;
      const length = Math.min(CHUNK_BYTES - offset, end - at);
      const data = await repository.read({ importId, seq, offset, length });
      // Gone (the import was deleted) or short: the caller's error, not the file's.
      if (data === null || data.length !== length)
        throw new Error('The stored upload is incomplete');
      yield data;
      at += length;
    }
  }
  return {
    size,
    createReadStream: (start, end) => Readable.from(range(start, end), { objectMode: false }),
  };
}
