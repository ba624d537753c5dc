import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MessageResponseDto } from './message-response.dto';

class ChatRoomBaseDto {
  /** @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  id: string;
  /** @example "Trip to Lisbon" */
  title: string;
  /** @example "0b8f7e5c-2f7a-4d2e-9c43-5d2f3c9e8a11" */
  ownerId: string;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
  /** The newest message's createdAt (or the last rename). @example "2026-01-31T12:05:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  updatedAt: string;
  /** The model of the room's replies; null: the server's default. @example null */
  @ApiProperty({ type: String, nullable: true })
  model: string | null;
  /** Sent to the model before the room's messages; null: none. @example null */
  @ApiProperty({ type: String, nullable: true })
  systemPrompt: string | null;
  /**
   * Grows with every change of the room's structure or settings (a message added or deleted,
   * the active message switched, a rename, a model or system-prompt change, a generation that
   * ends). Single-room answers send it as `ETag: "<version>"`; send it back as `If-Match`.
   * @example 7
   */
  @ApiProperty({ type: 'integer', minimum: 1 })
  version: number;
  /**
   * The last message of the active path (the branch every client shows); null in an empty
   * room. @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51"
   */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  activeMessageId: string | null;
}

export class ChatRoomResponseDto extends ChatRoomBaseDto {
  /**
   * The room's active path (from the root down to activeMessageId), oldest first: all of it up
   * to 1,000 messages, else the newest 1,000 — and fewer when their content passes 2 MiB
   * (UTF-8; always at least the newest one). Other branches: GET …/messages?branch=all.
   */
  @ApiProperty({ type: () => [MessageResponseDto] })
  messages: MessageResponseDto[];
  /** True when older messages than these exist (read them with the message pages). */
  hasMoreMessages: boolean;
}

export class ChatRoomSummaryDto extends ChatRoomBaseDto {
  /** Every message of the room, all branches. @example 12 */
  messageCount: number;
  /**
   * The active path's last message, as a preview: its content cut to 2,000 characters (UTF-16 code units),
   * with `truncated: true` when it was cut; the message pages carry all of it.
   */
  @ApiProperty({ type: () => MessageResponseDto, nullable: true })
  lastMessage: MessageResponseDto | null;
  /**
   * Only with `include=messages`: the active path's newest messages (at most 50), oldest first. The page's
   * rooms share 2 MiB of content (UTF-8), spent in page order: a room further down a page of
   * large messages carries fewer, or none.
   */
  @ApiPropertyOptional({ type: () => [MessageResponseDto] })
  messages?: MessageResponseDto[];
  /** Only with `include=messages`: true when the room has messages that `messages` leaves out. */
  @ApiPropertyOptional()
  hasMoreMessages?: boolean;
}

export class ChatRoomPageDto {
  @ApiProperty({ type: () => [ChatRoomSummaryDto] })
  items: ChatRoomSummaryDto[];
  /** All of the caller's rooms. @example 42 */
  total: number;
  /** @example 20 */
  limit: number;
  /** @example 0 */
  offset: number;
}
