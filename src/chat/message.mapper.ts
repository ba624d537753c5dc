import { apiTimestamp } from '../database/iso-timestamps';
import type { MessageResponseDto } from './dto/message-response.dto';
import type { MessageRole, MessageStatus } from './entities/message.entity';

/**
 * A row of `messages` as `SELECT m.*` returns it (timestamps as ISO strings, see the
 * `isoTimestamps` statement option), or as `row_to_json(m)` does.
 */
export interface MessageRow {
  id: string;
  chat_room_id: string;
  role: MessageRole;
  content: string;
  created_at: string;
  status: MessageStatus;
  model: string | null;
  generation_id: string | null;
}

/** The one place a Message of the API is made: every route that answers one uses it. */
export function toMessage(row: MessageRow): MessageResponseDto {
  return {
    id: row.id,
    chatRoomId: row.chat_room_id,
    role: row.role,
    content: row.content,
    createdAt: apiTimestamp(row.created_at),
    status: row.status,
    model: row.model,
    generationId: row.generation_id,
  };
}
