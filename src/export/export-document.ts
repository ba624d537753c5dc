import { apiTimestamp } from '../database/iso-timestamps';
import type { ExportedMessageDto, ExportedRoomDto } from './dto/export-document.dto';
import type { ExportMessageRow, ExportRoomRow } from './export.repository';

/** `format` of our export document: what POST /api/imports recognises it by. */
export const EXPORT_FORMAT = 'chat-backend.export';
export const EXPORT_VERSION = 1;

// The document is written in pieces, as it is read: its frame by hand, every value by
// JSON.stringify (strings escaped as JSON requires, a lone surrogate as \udxxx). Each shape is
// made here only.

/** `{"format":…,"version":1,"exportedAt":…,"rooms":[` */
export function documentStart(exportedAt: Date): string {
  const head = JSON.stringify({
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    exportedAt: exportedAt.toISOString(),
  });
  return `${head.slice(0, -1)},"rooms":[`;
}

export const DOCUMENT_END = ']}';

/** A room without its messages: `{"id":…,…,"activeMessageId":…,"messages":[` */
export function roomStart(row: ExportRoomRow): string {
  const room: Omit<ExportedRoomDto, 'messages'> = {
    id: row.id,
    title: row.title,
    createdAt: apiTimestamp(row.created_at),
    updatedAt: apiTimestamp(row.updated_at),
    model: row.model,
    systemPrompt: row.system_prompt,
    activeMessageId: row.active_message_id,
  };
  return `${JSON.stringify(room).slice(0, -1)},"messages":[`;
}

export const ROOM_END = ']}';

/** One message of a room, as JSON. */
export function exportedMessage(row: ExportMessageRow): string {
  const message: ExportedMessageDto = {
    id: row.id,
    parentId: row.parent_id,
    role: row.role,
    content: row.content,
    status: row.status,
    model: row.model,
    createdAt: apiTimestamp(row.created_at),
  };
  return JSON.stringify(message);
}

/** The file name a download is saved as: the day of the export (UTC). */
export function exportFilename(exportedAt: Date): string {
  return `chat-export-${exportedAt.toISOString().slice(0, 10)}.json`;
}
