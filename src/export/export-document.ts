import { apiTimestamp } from '../database/iso-timestamps';
import type { ExportedMessageDto, ExportedRoomDto } from './dto/export-document.dto';
import type { ExportMessageRow, ExportRoomRow } from './export.repository';

/** `format` of our export document: what POST /api/imports recognises it by. */
export const EXPORT_FORMAT = 'chat-backend.export';
export const EXPORT_VERSION = 1;

// The document is written in pieces, as it is read: its frame by hand, every value by
// JSON.stringify (strings escaped as JSON requires, a lone surrogate as \udxxx), each piece
// encoded into one Buffer (PieceWriter). Each shape is made here only.

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

/** Where a piece starts: about a page of messages, as JSON (it grows for a larger one). */
const PIECE_BYTES = 512 * 1024;

/**
 * Builds a piece of the document as UTF-8: each text is encoded straight into one Buffer.
 * Joining the texts first and encoding the result costs several times the CPU (a long string
 * with non-Latin-1 text is slow to join and to encode) and makes twice the garbage.
 */
export class PieceWriter {
  private buffer: Buffer | null = null;
  private length = 0;

  write(text: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8 (a surrogate pair, 2 units, is 4).
    const most = text.length * 3;
    if (!this.buffer || this.length + most > this.buffer.length) this.grow(most);
    this.length += this.buffer!.write(text, this.length, 'utf8');
  }

  /** What was written since the last take (an empty Buffer when nothing was). */
  take(): Buffer {
    const piece = this.buffer ? this.buffer.subarray(0, this.length) : Buffer.alloc(0);
    this.buffer = null;
    this.length = 0;
    return piece;
  }

  private grow(most: number): void {
    const size = Math.max(PIECE_BYTES, 2 * this.length + most);
    const larger = Buffer.allocUnsafe(size);
    if (this.buffer) this.buffer.copy(larger, 0, 0, this.length);
    this.buffer = larger;
  }
}

/**
 * Writes a group of rooms read together, as pieces: each room's head when its first message
 * (or the end) comes, its messages, the ends of the rooms.
 */
export class GroupWriter {
  readonly roomIds: string[];
  private readonly piece = new PieceWriter();
  /** The room whose head is written and whose messages are being written (-1: none yet). */
  private open = -1;
  private firstMessage = true;

  /** `firstOfDocument`: no room was written before this group (no separator before it). */
  constructor(
    private readonly rooms: ExportRoomRow[],
    private readonly firstOfDocument: boolean,
  ) {
    this.roomIds = rooms.map((room) => room.id);
  }

  /** Messages of the group's rooms, in the order read (their rooms' `ord`, from 1). */
  messages(rows: ExportMessageRow[]): void {
    for (const row of rows) {
      this.openThrough(row.ord - 1);
      if (!this.firstMessage) this.piece.write(',');
      this.piece.write(exportedMessage(row));
      this.firstMessage = false;
    }
  }

  /** What was written since the last piece. */
  take(): Buffer {
    return this.piece.take();
  }

  /** The last piece: the rooms left (without messages) and the end of the last room. */
  end(): Buffer {
    this.openThrough(this.rooms.length - 1);
    this.piece.write(ROOM_END);
    return this.piece.take();
  }

  private openThrough(index: number): void {
    while (this.open < index) {
      if (this.open >= 0) this.piece.write(ROOM_END);
      this.open++;
      if (this.open > 0 || !this.firstOfDocument) this.piece.write(',');
      this.piece.write(roomStart(this.rooms[this.open]));
      this.firstMessage = true;
    }
  }
}
