import { Readable } from 'node:stream';
import type { ByteSource } from './formats';
import type { ImportsRepository } from './imports.repository';

/** The size of an upload's rows (import_chunks): the last one of an upload is shorter. */
export const CHUNK_BYTES = 1024 * 1024;
/** Most bytes one read statement asks for. */
const READ_BYTES = 256 * 1024;
/**
 * The pieces handed to the reader. The JSON parser turns a piece into its tokens at once; a
 * 1 MiB piece is some hundred thousand objects alive across the next conversation's statements,
 * which V8 then promotes and collects late: the import's memory grew by about 250 MB, and by
 * about 90 MB with pieces of 64 KiB (bench/results/2026-12-03-import.md).
 */
const PIECE_BYTES = 64 * 1024;

/**
 * An upload stored as import_chunks, read by range: each read is one statement for at most
 * READ_BYTES of one row, issued as the reader asks for more.
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
      const length = Math.min(CHUNK_BYTES - offset, end - at, READ_BYTES);
      const data = await repository.read({ importId, seq, offset, length });
      // Gone (the import was deleted) or short: the caller's error, not the file's.
      if (data === null || data.length !== length) {
        throw new Error('The stored upload is incomplete');
      }
      for (let piece = 0; piece < length; piece += PIECE_BYTES) {
        yield data.subarray(piece, piece + PIECE_BYTES);
      }
      at += length;
    }
  }
  return {
    size,
    createReadStream: (start, end) => Readable.from(range(start, end), { objectMode: false }),
  };
}
