import { Injectable } from '@nestjs/common';
import { apiTimestamp } from '../database/iso-timestamps';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement } from '../database/statement';
import { keyableStatement } from '../idempotency/idempotency-keys.repository';
import type { ChatRoomResponseDto, ChatRoomSummaryDto } from './dto/chat-room-response.dto';
import type { MessageResponseDto } from './dto/message-response.dto';
import { siblingIdsOf, toMessage, type MessageRow } from './message.mapper';
import { applyChanges, ascent, descent, lockedRoom, pathAfter, versionMatches } from './tree.sql';

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
  version: number;
  active_message_id: string | null;
}

/** A room with its newest message (its content cut to a preview), as row_to_json gives it. */
type SummaryRow = ChatRoomRow & {
  [K in keyof MessageRow as `lm_${K}`]: MessageRow[K] | null;
};

// Timestamps have millisecond precision (what clients see); a room never moves back in time.
const NOW = `greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at)`;

/** The columns of the last message, `lm_`-prefixed beside the room's. */
const LAST_MESSAGE_COLUMNS = `lm.id AS lm_id, lm.chat_room_id AS lm_chat_room_id, lm.role AS lm_role,
  lm.content AS lm_content, lm.created_at AS lm_created_at, lm.status AS lm_status,
  lm.model AS lm_model, lm.generation_id AS lm_generation_id, lm.parent_id AS lm_parent_id,
  lm.sibling_ids AS lm_sibling_ids`;

/**
 * The last message of room `r`'s active path (its active message), its content cut (a
 * character more than the preview).
 */
const LAST_MESSAGE = `
  LEFT JOIN LATERAL (
    SELECT m.id, m.chat_room_id, m.role, left(m.content, ${PREVIEW_CHARS + 1}) AS content,
           m.created_at, m.status, m.model, m.generation_id, m.parent_id,
           ${siblingIdsOf('m')} AS sibling_ids
    FROM messages m WHERE m.id = r.active_message_id
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

/** PATCH: each of title, model and systemPrompt changes only when the request carries it. */
export type UpdateParams = Caller &
  Versioned & {
    roomId: string;
    title: string | null;
    setModel: boolean;
    model: string | null;
    setSystemPrompt: boolean;
    systemPrompt: string | null;
  };

/** The caller: the owner, and the session whose liveness each first statement proves. */
type Caller = { ownerId: string; sessionId: string };
type Page = Caller & { limit: number; offset: number };
/** `pattern` is a LIKE pattern (see containsPattern). */
type TitlePage = Page & { pattern: string };
const iso = { isoTimestamps: true };
/** A write with the If-Match versions (null: none); see room-versions.ts. */
type Versioned = { ifMatch: number[] | null };

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
  update: statement<UpdateParams, SummaryRow>(
    'chatRooms.update',
    (p) => `
      WITH r AS (
        UPDATE chat_rooms r SET title = coalesce(${p.title}, r.title),
          model = CASE WHEN ${p.setModel} THEN ${p.model} ELSE r.model END,
          system_prompt = CASE WHEN ${p.setSystemPrompt} THEN ${p.systemPrompt} ELSE r.system_prompt END,
          updated_at = ${NOW}, version = r.version + 1
        WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
          AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
          AND ${versionMatches('r.version', p.ifMatch)}
        RETURNING r.*
      )
      SELECT r.*, ${LAST_MESSAGE_COLUMNS} FROM r ${LAST_MESSAGE}`,
    iso,
  ),

  // The room's messages and generations go with it (ON DELETE CASCADE).
  delete: statement<Caller & Versioned & { roomId: string }, { id: string }>(
    'chatRooms.delete',
    (p) => `
      DELETE FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
        AND ${versionMatches('r.version', p.ifMatch)}
      RETURNING r.id`,
  ),

  // Why a room write changed nothing: the session, the room's version (null: no such room of
  // the caller), whether the message it names is one of the room's.
  refusal: statement<
    Caller & { roomId: string; messageId: string | null },
    { live: boolean; version: number | null; message_found: boolean }
  >(
    'chatRooms.refusal',
    (p) => `
      SELECT EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) AS live, r.version,
        EXISTS (SELECT FROM messages m WHERE m.chat_room_id = r.id AND m.id = ${p.messageId}::uuid) AS message_found
      FROM (SELECT 1) one
      LEFT JOIN chat_rooms r ON r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}`,
  ),

  // PUT …/active-message: the path through the message becomes the active one, down to the
  // leaf that was active most recently below it. The message and those of its ancestors not
  // on the path join it, as does the branch below it; what followed the branch point leaves.
  setActive: statement<Caller & Versioned & { roomId: string; messageId: string }, ChatRoomRow>(
    'chatRooms.setActive',
    (p) => `
      WITH ${lockedRoom(p)},
      target AS MATERIALIZED (
        SELECT m.id, fresh.version + 1 AS version FROM messages m, fresh
        WHERE m.chat_room_id = fresh.id AND m.id = ${p.messageId}::uuid
      ),
      walk AS MATERIALIZED (${ascent('(SELECT id FROM fresh)', '(SELECT id FROM target)')}),
      branch AS MATERIALIZED (SELECT id, created_at FROM walk WHERE on_path),
      below AS MATERIALIZED (${descent('(SELECT id FROM fresh)', '(SELECT id FROM target)')}),
      moved AS (${applyChanges(
        `SELECT id, true AS on_path, 0 AS siblings FROM walk WHERE NOT on_path
         UNION ALL SELECT id, true, 0 FROM below
         UNION ALL SELECT id, false, 0 FROM (${pathAfter('(SELECT id FROM fresh)', 'branch')}) a`,
        '(SELECT version FROM target)',
        'target',
      )})
      UPDATE chat_rooms r SET version = target.version, updated_at = ${NOW},
        active_message_id = coalesce((SELECT id FROM below ORDER BY n DESC LIMIT 1), target.id)
      FROM target WHERE r.id = (SELECT id FROM fresh)
      RETURNING r.*`,
    { isoTimestamps: true, planEachTime: true },
  ),

  // DELETE …/messages/:id: the message and its subtree (their generations go with them, by
  // foreign key), unless a reply in it is being written. When the active message was in it,
  // the parent's path becomes active, down its most recently active other branch (a deleted
  // first message: the most recently active other first message's).
  deleteMessage: statement<
    Caller & Versioned & { roomId: string; messageId: string },
    { deleted: number; busy: boolean }
  >(
    'chatRooms.deleteMessage',
    (p) => `
      WITH ${lockedRoom(p)},
      target AS MATERIALIZED (
        SELECT m.id, m.parent_id, m.on_active_path, fresh.version + 1 AS version FROM messages m, fresh
        WHERE m.chat_room_id = fresh.id AND m.id = ${p.messageId}::uuid
      ),
      subtree AS MATERIALIZED (
        WITH RECURSIVE s(id) AS (
          SELECT id FROM target
          UNION ALL
          SELECT c.id FROM s JOIN messages c ON c.chat_room_id = (SELECT id FROM fresh) AND c.parent_id = s.id
        ) SELECT id FROM s
      ),
      doing AS MATERIALIZED (
        SELECT t.* FROM target t WHERE NOT EXISTS (
          SELECT FROM messages m JOIN subtree s ON s.id = m.id WHERE m.status = 'streaming')
      ),
      below AS MATERIALIZED (
        SELECT d.id, d.n FROM (${descent(
          '(SELECT id FROM fresh)',
          '(SELECT parent_id FROM doing)',
          '(SELECT id FROM doing)',
        )}) d
        WHERE (SELECT on_active_path FROM doing)
      ),
      gone AS (
        DELETE FROM messages m USING subtree s, doing WHERE m.id = s.id RETURNING m.id
      ),
      moved AS (${applyChanges(
        `SELECT id, true AS on_path, 0 AS siblings FROM below
         UNION ALL
         SELECT c.id, NULL, -1 FROM doing JOIN messages c
           ON c.chat_room_id = (SELECT id FROM fresh) AND c.parent_id = doing.parent_id AND c.id <> doing.id
         UNION ALL
         SELECT c.id, NULL, -1 FROM doing JOIN messages c
           ON c.chat_room_id = (SELECT id FROM fresh) AND doing.parent_id IS NULL AND c.parent_id IS NULL AND c.id <> doing.id`,
        '(SELECT version FROM doing)',
        'doing',
      )}),
      room AS (
        UPDATE chat_rooms r SET version = doing.version, updated_at = ${NOW},
          message_count = r.message_count - (SELECT count(*) FROM subtree)::int,
          active_message_id = CASE WHEN doing.on_active_path
            THEN coalesce((SELECT id FROM below ORDER BY n DESC LIMIT 1), doing.parent_id)
            ELSE r.active_message_id END
        FROM doing WHERE r.id = (SELECT id FROM fresh)
        RETURNING r.id
      )
      SELECT (SELECT count(*) FROM subtree)::int AS deleted,
             EXISTS (SELECT FROM target) AND NOT EXISTS (SELECT FROM doing) AS busy
      FROM fresh`,
    { planEachTime: true },
  ),

  // POST …/fork: a new room of the caller with a copy of the path from the root to the
  // message (new ids; contents, roles, statuses, models and timestamps kept; a reply still
  // being written is copied as stopped), the copy of the message active.
  fork: statement<
    Caller & { roomId: string; messageId: string; title: string | null },
    ChatRoomRow
  >(
    'chatRooms.fork',
    (p) => `
      WITH source AS MATERIALIZED (
        SELECT r.id, r.title, r.model, r.system_prompt FROM chat_rooms r
        WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
          AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
      ),
      path AS MATERIALIZED (
        WITH RECURSIVE up AS (
          SELECT m.* FROM messages m, source WHERE m.chat_room_id = source.id AND m.id = ${p.messageId}::uuid
          UNION ALL
          SELECT m.* FROM up JOIN messages m ON m.chat_room_id = up.chat_room_id AND m.id = up.parent_id
        ) SELECT up.*, gen_random_uuid() AS copy_id FROM up
      ),
      room AS (
        INSERT INTO chat_rooms AS r (title, owner_id, model, system_prompt, message_count, active_message_id)
        SELECT coalesce(${p.title}::text, source.title), ${p.ownerId}::uuid, source.model,
               source.system_prompt, (SELECT count(*) FROM path)::int,
               (SELECT copy_id FROM path WHERE id = ${p.messageId}::uuid)
        FROM source WHERE EXISTS (SELECT FROM path)
        RETURNING r.*
      ),
      copies AS (
        INSERT INTO messages (id, chat_room_id, owner_id, role, content, created_at, status, model,
                              parent_id, on_active_path, chosen_version, sibling_count)
        SELECT m.copy_id, room.id, room.owner_id, m.role, m.content, m.created_at,
               CASE WHEN m.status = 'streaming' THEN 'stopped' ELSE m.status END, m.model,
               parent.copy_id, true, room.version, 1
        FROM path m LEFT JOIN path parent ON parent.id = m.parent_id, room
      )
      SELECT * FROM room`,
    { isoTimestamps: true },
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
    version: row.version,
    activeMessageId: row.active_message_id,
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
            parent_id: row.lm_parent_id,
            sibling_ids: row.lm_sibling_ids!,
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
    version: row.version,
    activeMessageId: row.active_message_id,
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

  async update(params: UpdateParams): Promise<ChatRoomSummaryDto | null> {
    const [row] = await this.sql.rows(SQL.update, params);
    return row ? toSummary(row) : null;
  }

  /** Whether the owner's room was there to delete (and If-Match met). */
  async delete(params: Caller & Versioned & { roomId: string }): Promise<boolean> {
    return (await this.sql.rows(SQL.delete, params)).length > 0;
  }

  /** Why a room write changed nothing (see room-versions.ts). */
  async refusal(params: Caller & { roomId: string; messageId: string | null }) {
    const [row] = await this.sql.rows(SQL.refusal, params);
    return { live: row.live, version: row.version, messageFound: row.message_found };
  }

  /** The room with its new active path's leaf; null when nothing changed (see refusal). */
  async setActive(
    params: Caller & Versioned & { roomId: string; messageId: string },
  ): Promise<ChatRoomRow | null> {
    const [row] = await this.sql.rows(SQL.setActive, params);
    return row ?? null;
  }

  /**
   * How many messages were deleted; 'busy' when a reply below is being written; null when
   * nothing changed (see refusal).
   */
  async deleteMessage(
    params: Caller & Versioned & { roomId: string; messageId: string },
  ): Promise<number | 'busy' | null> {
    const [row] = await this.sql.rows(SQL.deleteMessage, params);
    if (!row) return null;
    if (row.busy) return 'busy';
    return row.deleted > 0 ? row.deleted : null;
  }

  /** The new room; null when there is no such room or message of the caller. */
  async fork(
    params: Caller & { roomId: string; messageId: string; title: string | null },
    db: SqlRunner = this.sql,
  ): Promise<ChatRoomRow | null> {
    const [row] = await db.rows(SQL.fork, params);
    return row ?? null;
  }
}
