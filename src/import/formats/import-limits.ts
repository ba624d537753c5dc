const MiB = 1024 * 1024;

/**
 * What one import may hold. Every bound is checked while the file streams, so that a file
 * past one is refused before it costs more than the bound: a conversation past its own bounds
 * is a failed conversation, a file past the import's bounds stops the import.
 */
export interface ImportLimits {
  /** Most conversations (rooms) in one import; past it the import stops (too_many_conversations). */
  maxConversations: number;
  /** Most messages of one conversation (messages kept after mapping); past it, that conversation fails. */
  maxMessagesPerConversation: number;
  /** Most messages in one import, all conversations; past it the import stops (too_many_messages). */
  maxMessagesPerImport: number;
  /**
   * Most bytes of one conversation's JSON value (its strings counted as UTF-8, after escapes are
   * decoded). A larger one is not assembled: it fails, and the import goes on.
   */
  maxConversationBytes: number;
  /** Deepest nesting of arrays and objects anywhere in a JSON document; deeper stops the import. */
  maxDepth: number;
  /** Most entries (files and folders) a ZIP may list. */
  maxZipEntries: number;
  /** Most bytes the conversation entries of a ZIP may inflate to, all of them together. */
  maxZipUncompressedBytes: number;
  /**
   * A ZIP entry that declares more than `maxZipRatio` times its compressed size AND more than
   * `zipRatioMinBytes` is refused as a ZIP bomb. JSON text deflates about 5 to 20 times; a
   * ratio of 1,000 is a run of one byte.
   */
  maxZipRatio: number;
  zipRatioMinBytes: number;
}

export const DEFAULT_IMPORT_LIMITS: Readonly<ImportLimits> = Object.freeze({
  maxConversations: 100_000,
  maxMessagesPerConversation: 20_000,
  maxMessagesPerImport: 1_000_000,
  maxConversationBytes: 32 * MiB,
  maxDepth: 64,
  maxZipEntries: 200_000,
  maxZipUncompressedBytes: 1024 * MiB,
  maxZipRatio: 100,
  zipRatioMinBytes: 16 * MiB,
});

/** The defaults with `overrides` applied; a bound that is not a positive integer is a bug. */
export function importLimits(overrides: Partial<ImportLimits> = {}): ImportLimits {
  const limits = { ...DEFAULT_IMPORT_LIMITS, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new RangeError(`import limit ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}

/** "32 MiB", "48.8 KiB", "900 bytes": a bound as a person reads it. */
export function formatBytes(bytes: number): string {
  const round = (n: number) => Math.round(n * 10) / 10;
  if (bytes >= MiB) return `${round(bytes / MiB)} MiB`;
  if (bytes >= 1024) return `${round(bytes / 1024)} KiB`;
  return `${bytes} bytes`;
}
