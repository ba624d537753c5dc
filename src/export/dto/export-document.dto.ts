import { ApiProperty } from '@nestjs/swagger';
import {
  MESSAGE_ROLES,
  MESSAGE_STATUSES,
  type MessageRole,
  type MessageStatus,
} from '../../chat/entities/message.entity';

export class ExportedMessageDto {
  /** @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51" */
  @ApiProperty({ format: 'uuid' })
  id: string;
  /**
   * The message it answers or follows; null for a first message (a root of the room's tree).
   * @example "9a2e4c1d-7b3f-4e8a-b6d5-0c1f2e3d4a5b"
   */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  parentId: string | null;
  @ApiProperty({ enum: MESSAGE_ROLES, example: 'user' })
  role: MessageRole;
  /** @example "What should I see in Lisbon in two days?" */
  content: string;
  /** As in a Message: a reply still being written is "streaming", with its text so far. */
  @ApiProperty({ enum: MESSAGE_STATUSES, example: 'complete' })
  status: MessageStatus;
  /** The model that wrote it (server-written replies), else null. @example null */
  @ApiProperty({ type: String, nullable: true })
  model: string | null;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
}

export class ExportedRoomDto {
  /** @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  @ApiProperty({ format: 'uuid' })
  id: string;
  /** @example "Trip to Lisbon" */
  title: string;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
  /** @example "2026-01-31T12:05:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
  /** The model of the room's replies; null: the server's default. @example null */
  @ApiProperty({ type: String, nullable: true })
  model: string | null;
  /** Sent to the model before the room's messages; null: none. @example null */
  @ApiProperty({ type: String, nullable: true })
  systemPrompt: string | null;
  /**
   * The last message of the branch the room shows; null in an empty room.
   * @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51"
   */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  activeMessageId: string | null;
  /**
   * Every message of the room, every branch, in conversation order (createdAt, then id): a
   * message always comes after its parent.
   */
  @ApiProperty({ type: () => [ExportedMessageDto] })
  messages: ExportedMessageDto[];
}

export class ExportDocumentDto {
  /** What the file is: POST /api/imports recognises it by this. */
  @ApiProperty({ enum: ['chat-backend.export'] })
  format: 'chat-backend.export';
  /** The version of the document's format. */
  @ApiProperty({ type: 'integer', enum: [1] })
  version: 1;
  /** When the export started. @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  exportedAt: string;
  /** The exported rooms, oldest first (createdAt, then id). */
  @ApiProperty({ type: () => [ExportedRoomDto] })
  rooms: ExportedRoomDto[];
}
