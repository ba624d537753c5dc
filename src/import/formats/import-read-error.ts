/**
 * Why a file cannot be read (or read further). The message is a sentence for the person who
 * uploaded the file (it becomes the import's reason or a 400's message): it never quotes a
 * library's or the storage's own error.
 */
export type ImportReadErrorCode =
  /** Neither our export document, nor ChatGPT's conversations.json, nor its ZIP (answer 400). */
  | 'unknown_format'
  /** Not well-formed: JSON that is invalid or cut short, a damaged ZIP. */
  | 'malformed'
  /** Well-formed, but not the shape the format has (e.g. `rooms` that is not a list). */
  | 'unexpected_shape'
  /** Arrays and objects nested deeper than ImportLimits.maxDepth. */
  | 'too_deep'
  | 'too_many_conversations'
  | 'too_many_messages'
  /** A ZIP entry that inflates far beyond its compressed size, or beyond what it declares. */
  | 'zip_bomb'
  /** A ZIP with too many entries, or whose conversation entries inflate past the import's bound. */
  | 'zip_too_large'
  /** Encrypted entries, compression methods other than stored and deflate. */
  | 'zip_unsupported';

export class ImportReadError extends Error {
  override readonly name = 'ImportReadError';

  constructor(
    readonly code: ImportReadErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function isImportReadError(error: unknown): error is ImportReadError {
  return error instanceof ImportReadError;
}

/**
 * Wraps an error of the storage the bytes come from (not the file's fault) on its way through
 * the ZIP reader, so that it can be told from a damaged entry; it is unwrapped before it leaves.
 */
export class ByteSourceError extends Error {
  override readonly name = 'ByteSourceError';

  constructor(readonly sourceError: unknown) {
    super('the bytes of the import could not be read');
  }
}
