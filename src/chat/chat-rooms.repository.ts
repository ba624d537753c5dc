import { Injectable } from '@nestjs/common';
import { apiTimestamp } from '../database/iso-timestamps';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement } from '../database/statement';
import { keyableStatement } from '../idempotency/idempotency-keys.repository';
import type { ChatRoomResponseDto, ChatRoomSummaryDto } from './dto/chat-room-response.dto';
import type { MessageResponseDto } from './dto/message-response.dto';
import { toMessage, type MessageRow } from './message.mapper';

/** Most UTF-16 code units of a room's lastMessage in a summary: a preview, marked `truncated`. */
export const PREVIEW_CHARS = 2000;

/** A row of `chat_rooms` as `SELECT r.*` returns it (timestamps as ISO strings). */
export interface ChatRoomRow {
  id: string;
  title: string;
  owner_id: string;
  message_count: number;
  created_at: string;
  updated_at: string;
  model: string | null;
  system_prompt: string | null;
}

/** A room with its newest message (its content cut to a preview), as row_to_json gives it. */
type SummaryRow = ChatRoomRow & {
  [K in keyof MessageRow as `lm_${K}`]: MessageRow[K] | null;
};

// Timestamps have millisecond precision (what clients see); a room never moves back in time.
const NOW = `greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at)`;

/** The columns of the newest message, `lm_`-prefixed beside the room's. */
const LAST_MESSAGE_COLUMNS = `lm.id AS lm_id, lm.chat_room_id AS lm_chat_room_id, lm.role AS lm_role,
  lm.content AS lm_content, lm.created_at AS lm_created_at, lm.status AS lm_status,
  lm.model AS lm_model, lm.generation_id AS lm_generation_id`;

/** The newest message of room `r`, its content cut (a character more than the preview). */
const LAST_MESSAGE = `
  LEFT JOIN LATERAL (
    SELECT m.id, m.chat_room_id, m.role, left(m.content, ${PREVIEW_CHARS + 1}) AS content,
           m.created_at, m.status, m.model, m.generation_id
    FROM messages m WHERE m.chat_room_id = r.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
  ) lm ON true`;

/**
 * A page of the owner's rooms that `filter` keeps, most recently active first, each with its
 * last message, and their total.
 */
function roomPage(
  owner: string,
  session: string,
  limit: string,
  offset: string,
  filter: string,
): string {
  return `
    SELECT r.*, ${LAST_MESSAGE_COLUMNS},
           (SELECT count(*)::int FROM chat_rooms r WHERE r.owner_id = ${owner} ${filter}) AS total
    FROM (
      SELECT r.* FROM chat_rooms r
      WHERE r.owner_id = ${owner} ${filter} AND EXISTS (SELECT FROM live_session(${session}, ${owner}))
      ORDER BY r.updated_at DESC, r.id DESC LIMIT ${limit} OFFSET ${offset}
    ) r
    ${LAST_MESSAGE}
    ORDER BY r.updated_at DESC, r.id DESC`;
}

/** The caller: the owner, and the session whose liveness each first statement proves. */
type Caller = { ownerId: string; sessionId: string };
type Page = Caller & { limit: number; offset: number };
/** `pattern` is a LIKE pattern (see containsPattern). */
type TitlePage = Page & { pattern: string };
const iso = { isoTimestamps: true };

export const SQL = {
  create: keyableStatement<
    Caller & { title: string; model: string | null; systemPrompt: string | null },
    ChatRoomRow
  >('chatRooms.create', (p, gate) => ({
    write: `
      INSERT INTO chat_rooms AS r (title, owner_id, model, system_prompt)
      SELECT ${p.title}::text, ${p.ownerId}::uuid, ${p.model}::text, ${p.systemPrompt}::text
      WHERE EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) ${gate}
      RETURNING r.*`,
  })),

  list: statement<Page, SummaryRow & { total: number }>(
    'chatRooms.list',
    (p) => roomPage(p.ownerId, p.sessionId, p.limit, p.offset, ''),
    iso,
  ),

  // Titles containing `q` (ILIKE, escaped), over ix_chat_rooms_owner_title_trgm when it has
  // trigrams, else the owner's rooms in order.
  listByTitle: statement<TitlePage, SummaryRow & { total: number }>(
    'chatRooms.listByTitle',
    (p) => roomPage(p.ownerId, p.sessionId, p.limit, p.offset, `AND r.title ILIKE ${p.pattern}`),
    iso,
  ),

  // The total of a page past the end (a page with rooms carries it), and the session's proof.
  count: statement<Caller, { total: number; callerExists: boolean }>(
    'chatRooms.count',
    (p) => `
      SELECT count(*)::int AS total, EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) AS "callerExists"
      FROM chat_rooms WHERE owner_id = ${p.ownerId}`,
  ),
  countByTitle: statement<Caller & { pattern: string }, { total: number; callerExists: boolean }>(
    'chatRooms.countByTitle',
    (p) => `
      SELECT count(*)::int AS total, EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) AS "callerExists"
      FROM chat_rooms WHERE owner_id = ${p.ownerId} AND title ILIKE ${p.pattern}`,
  ),

  get: statement<Caller & { roomId: string }, ChatRoomRow>(
    'chatRooms.get',
    (p) => `
      SELECT r.* FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))`,
    iso,
  ),

  // Each of title, model and systemPrompt changes only when the request carries it.
  update: statement<
    Caller & {
      roomId: string;
      title: string | null;
      setModel: boolean;
      model: string | null;
      setSystemPrompt: boolean;
      systemPrompt: string | null;
    },
    SummaryRow
  >(
    'chatRooms.update',
    (p) => `
      WITH r AS (
        UPDATE chat_rooms r SET title = coalesce(${p.title}, r.title),
          model = CASE WHEN ${p.setModel} THEN ${p.model} ELSE r.model END,
          system_prompt = CASE WHEN ${p.setSystemPrompt} THEN ${p.systemPrompt} ELSE r.system_prompt END,
          updated_at = ${NOW}
        WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
          AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
        RETURNING r.*
      )
      SELECT r.*, ${LAST_MESSAGE_COLUMNS} FROM r ${LAST_MESSAGE}`,
    iso,
  ),

  // The room's messages and generations go with it (ON DELETE CASCADE).
  delete: statement<Caller & { roomId: string }, { id: string }>(
    'chatRooms.delete',
    (p) => `
      DELETE FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
      RETURNING r.id`,
  ),
};

/**
 * The one place a ChatRoom of the API is made. Built as one literal, as is a summary (below):
 * properties added to an object afterwards cost each answer a second allocation per room.
 */
export function toRoom(
  row: ChatRoomRow,
  messages: MessageResponseDto[],
  hasMoreMessages: boolean,
): ChatRoomResponseDto {
  return {
    id: row.id,
    title: row.title,
    ownerId: row.owner_id,
    createdAt: apiTimestamp(row.created_at),
    updatedAt: apiTimestamp(row.updated_at),
    model: row.model,
    systemPrompt: row.system_prompt,
    messages,
    hasMoreMessages,
  };
}

/** A new room: no messages. Also what a replay of its Idempotency-Key answers. */
export const toNewRoom = (row: ChatRoomRow): ChatRoomResponseDto => toRoom(row, [], false);

/**
 * A summary's lastMessage: its content cut to PREVIEW_CHARS UTF-16 code units, never half a
 * pair, and then marked `truncated` (after `content`, where the API shows it).
 */
function preview(message: MessageResponseDto): MessageResponseDto {
  if (message.content.length <= PREVIEW_CHARS) return message;
  const { id, chatRoomId, role, content, ...rest } = message;
  const end = PREVIEW_CHARS - (/[\uD800-\uDBFF]/.test(content[PREVIEW_CHARS - 1]) ? 1 : 0);
  return { id, chatRoomId, role, content: content.slice(0, end), truncated: true, ...rest };
}

/** The one place a ChatRoomSummary is made. */
function toSummary(row: SummaryRow): ChatRoomSummaryDto {
  const lastMessage =
    row.lm_id === null
      ? null
      : preview(
          toMessage({
            id: row.lm_id,
            chat_room_id: row.lm_chat_room_id!,
            role: row.lm_role!,
            content: row.lm_content!,
            created_at: row.lm_created_at!,
            status: row.lm_status!,
            model: row.lm_model,
            generation_id: row.lm_generation_id,
          }),
        );
  return {
    id: row.id,
    title: row.title,
    ownerId: row.owner_id,
    createdAt: apiTimestamp(row.created_at),
    updatedAt: apiTimestamp(row.updated_at),
    model: row.model,
    systemPrompt: row.system_prompt,
    messageCount: row.message_count,
    lastMessage,
  };
}

@Injectable()
export class ChatRoomsRepository {
  constructor(private readonly sql: Sql) {}

  async create(
    params: Caller & { title: string; model: string | null; systemPrompt: string | null },
    db: SqlRunner = this.sql,
  ): Promise<ChatRoomResponseDto | null> {
    const [row] = await db.rows(SQL.create.plain, params);
    return row ? toNewRoom(row) : null;
  }

  /** A page of the owner's rooms, with their total; `pattern` keeps titles matching it. */
  async page(
    params: Page & { pattern: string | null },
  ): Promise<{ items: ChatRoomSummaryDto[]; total: number; callerExists: boolean }> {
    const { pattern, ...page } = params;
    const rows =
      pattern === null
        ? await this.sql.rows(SQL.list, page)
        : await this.sql.rows(SQL.listByTitle, { ...page, pattern });
    if (rows.length > 0) {
      return { items: rows.map(toSummary), total: rows[0].total, callerExists: true };
    }
    const caller = { ownerId: page.ownerId, sessionId: page.sessionId };
    const [{ total, callerExists }] =
      pattern === null
        ? await this.sql.rows(SQL.count, caller)
        : await this.sql.rows(SQL.countByTitle, { ...caller, pattern });
    return { items: [], total, callerExists };
  }

  /** The owner's room, as stored (see toRoom); null: none. */
  async get(params: Caller & { roomId: string }): Promise<ChatRoomRow | null> {
    const [row] = await this.sql.rows(SQL.get, params);
    return row ?? null;
  }

  async update(
    params: Caller & {
      roomId: string;
      title: string | null;
      setModel: boolean;
      model: string | null;
      setSystemPrompt: boolean;
      systemPrompt: string | null;
    },
  ): Promise<ChatRoomSummaryDto | null> {
    const [row] = await this.sql.rows(SQL.update, params);
    return row ? toSummary(row) : null;
  }

  /** Whether the owner's room was there to delete. */
  async delete(params: Caller & { roomId: string }): Promise<boolean> {
    return (await this.sql.rows(SQL.delete, params)).length > 0;
  }
}
