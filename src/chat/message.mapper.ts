import { apiTimestamp } from '../database/iso-timestamps';
import type { MessageResponseDto } from './dto/message-response.dto';
import type { MessageRole, MessageStatus } from './entities/message.entity';

/**
 * A row of `messages` as MESSAGE_COLUMNS selects it (timestamps as ISO strings, see the
 * `isoTimestamps` statement option), or as `row_to_json` of those columns gives it.
 * `sibling_ids` is left out where a Message may go without it (search hits).
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
  parent_id: string | null;
  sibling_ids?: string[];
}

/**
 * The ids of the messages that share message `m`'s parent, itself included, oldest first, as
 * text[] (node-postgres parses it, not uuid[]). Most messages have none: sibling_count says so
 * without a look-up; the others are read over ix_messages_room_parent. `alsoNew`: `m` was
 * inserted by this very statement, which does not see it (it is the newest of them).
 */
export function siblingIdsOf(m: string, alsoNew = false): string {
  const siblings = (parent: string) =>
    `ARRAY(SELECT s.id::text FROM messages s WHERE s.chat_room_id = ${m}.chat_room_id AND s.parent_id ${parent} ORDER BY s.created_at, s.id)${alsoNew ? ` || ${m}.id::text` : ''}`;
  return `CASE WHEN ${m}.sibling_count = 1 THEN ARRAY[${m}.id::text]
    WHEN ${m}.parent_id IS NULL THEN ${siblings('IS NULL')}
    ELSE ${siblings(`= ${m}.parent_id`)} END`;
}

/** The columns of a MessageRow of message `m`, siblings included (see siblingIdsOf). */
export function messageColumns(m: string, alsoNew = false): string {
  return `${m}.id, ${m}.chat_room_id, ${m}.role, ${m}.content, ${m}.created_at, ${m}.status,
    ${m}.model, ${m}.generation_id, ${m}.parent_id, ${siblingIdsOf(m, alsoNew)} AS sibling_ids`;
}

/** Message `m` as one json value (a MessageRow), null when `m` is. */
export function messageJson(m: string, alsoNew = false): string {
  return `CASE WHEN ${m}.id IS NOT NULL THEN
    (SELECT row_to_json(x) FROM (SELECT ${messageColumns(m, alsoNew)}) x) END`;
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
    parentId: row.parent_id,
    siblingIds: row.sibling_ids!,
  };
}
