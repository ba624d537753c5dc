// The reading layer of imports: formats, limits and mapping, with no database and no Nest.
export { type ByteSource, bufferByteSource, fileByteSource } from './byte-source';
export { mapChatGptConversation } from './chatgpt.mapper';
export { mapExportRoom } from './export-room.mapper';
export {
  DEFAULT_IMPORT_LIMITS,
  type ImportLimits,
  formatBytes,
  importLimits,
} from './import-limits';
export { ImportReadError, type ImportReadErrorCode, isImportReadError } from './import-read-error';
export {
  DEFAULT_IMPORT_TITLE,
  type FailedConversation,
  type MapOptions,
  type MappedConversation,
  type MappedMessage,
  isFailedConversation,
} from './mapped-conversation';
export {
  IMPORT_FORMATS,
  type ImportFormat,
  type OpenImportOptions,
  type OpenedImport,
  SNIFF_BYTES,
  type SourceConversation,
  openImport,
  sniffFormat,
} from './read-conversations';
