import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  MESSAGE_ROLES,
  MESSAGE_STATUSES,
  type MessageRole,
  type MessageStatus,
} from '../entities/message.entity';

export class MessageResponseDto {
  /** @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51" */
  id: string;
  /** @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  chatRoomId: string;
  @ApiProperty({ enum: MESSAGE_ROLES, example: 'user' })
  role: MessageRole;
  /** @example "What should I see in Lisbon in two days?" */
  content: string;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
  /**
   * "complete" for every posted message; a reply the server writes is "streaming" while its
   * generation runs, then "complete", "stopped" or "failed" (the text so far is kept).
   */
  @ApiProperty({ enum: MESSAGE_STATUSES, example: 'complete' })
  status: MessageStatus;
  /** The model that wrote it (server-written replies), else null. @example null */
  @ApiProperty({ type: String, nullable: true })
  model: string | null;
  /** The generation that wrote it, else null. @example null */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  generationId: string | null;
  /**
   * The message it answers or follows; null for a first message. An edit is a message posted
   * with its original's parentId; a regenerated reply has the same parentId as the earlier one.
   * @example "9a2e4c1d-7b3f-4e8a-b6d5-0c1f2e3d4a5b"
   */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  parentId: string | null;
  /**
   * Every message of the room with the same parentId, itself included, oldest first: a client
   * shows "2 / 3" from it and switches with PUT …/active-message. Left out of search hits.
   * @example ["6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51"]
   */
  @ApiProperty({ type: [String], format: 'uuid' })
  siblingIds: string[];
  /** Present, and true, only on a preview whose content was cut (a summary's lastMessage). */
  @ApiPropertyOptional({ type: Boolean, enum: [true] })
  truncated?: true;
}

export class MessagePageDto {
  /** Oldest first. */
  @ApiProperty({ type: () => [MessageResponseDto] })
  items: MessageResponseDto[];
  /** Whether more messages exist beyond this page in the direction of travel. */
  hasMore: boolean;
}
