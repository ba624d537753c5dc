import {
  BadRequestException,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { DatabaseError } from 'pg';
import type { TokenCaller } from '../auth/auth-user';
import { liveSession } from '../auth/session-proof';
import { containsPattern } from '../common/like-pattern';
import { Sql, SqlRunner, statement as sqlStatement } from '../database/sql.service';
import {
  ChatRoomPageDto,
  ChatRoomResponseDto,
  ChatRoomSummaryDto,
} from './dto/chat-room-response.dto';
import { CreateChatRoomDto, DEFAULT_ROOM_TITLE } from './dto/create-chat-room.dto';
import { CreateMessageDto } from './dto/create-message.dto';
import { ListChatRoomsQueryDto } from './dto/list-chat-rooms-query.dto';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto';
import { MessagePageDto, MessageResponseDto } from './dto/message-response.dto';
import { UpdateChatRoomDto } from './dto/update-chat-room.dto';
import { ModelCatalog } from '../assistant/model-catalog';
import { sqlIsoTimestamp as iso } from '../database/iso-timestamps';
import { keyedStatement, type OneStatement } from '../idempotency/idempotency.service';

/** Most messages GET /chat-rooms/:id embeds; older ones are read through the message pages. */
export const ROOM_MESSAGES_LIMIT = 1000;
/** Most messages each room carries in a list with include=messages. */
export const LIST_MESSAGES_PER_ROOM = 50;
/**
 * Most bytes of message content (UTF-8, as stored) one answer embeds: a room, a message page,
 * or a page of rooms with include=messages carries fewer messages when they are large, never
 * fewer than one. JSON escaping at most sextuples a byte (U+0001 is `\u0001`), so an answer
 * stays within about 12 MiB whatever was stored. octet_length() reads the stored size without
 * de-TOASTing the text.
 */
export const ANSWER_CONTENT_BYTES = 2 * 1024 * 1024;
/** Most UTF-16 code units of a room's lastMessage in a summary: a preview, marked `truncated`. */
export const PREVIEW_CHARS = 2000;

// The SQL is written out: each endpoint's statements are part of its contract (see README,
// "Query budget"), and ownership is in the same statement that reads or writes. So is the
// caller's live session (the routes are @CallerCheckedByQuery()): liveSession() in the first
// statement of each route, so a revoked session or a deleted user is refused at once, on every
// instance; only when a statement finds nothing is the session asked about on its own.
// Conversation order is (created_at, id), served by ix_messages_room_created.

const ROOM = `r.id, r.title, r.owner_id AS "ownerId", r.created_at AS "createdAt", r.updated_at AS "updatedAt", r.model, r.system_prompt AS "systemPrompt"`;
/** A Message's columns, from a row `m` of messages (search answers the same shape). */
export const MESSAGE = `m.id, m.chat_room_id AS "chatRoomId", m.role, m.content, m.created_at AS "createdAt", m.status, m.model, m.generation_id AS "generationId"`;
// Timestamps have millisecond precision (what clients see); never move a room back in time.
const NOW = `greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at)`;
// A message is at least a millisecond newer than the room's last activity, so messages of a
// room never share a createdAt: conversation order is the order they were posted in.
const NEXT_MESSAGE_AT = `greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at + interval '1 millisecond')`;

const LAST_MESSAGE_JOIN = `
  LEFT JOIN LATERAL (
    SELECT m.id, m.role, left(m.content, ${PREVIEW_CHARS + 1}) AS content, m.created_at, m.status, m.model, m.generation_id FROM messages m
    WHERE m.chat_room_id = r.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1
  ) lm ON true`;
const LAST_MESSAGE = `lm.id AS "lmId", lm.role AS "lmRole", lm.content AS "lmContent", lm.created_at AS "lmCreatedAt", lm.status AS "lmStatus", lm.model AS "lmModel", lm.generation_id AS "lmGenerationId"`;

/**
 * The rows of `source` (messages `m`, ordered by `order`) while the content before each stays
 * under $budget bytes: the first row always, so one message larger than the budget is still
 * read. `fetched` is how many rows `source` had, to tell a page cut by the budget.
 */
function withinBudget(source: string, order: string, budget: string, extra = ''): string {
  return `
    SELECT ${MESSAGE}, m.fetched::int AS fetched FROM (
      SELECT m.*, count(*) OVER () AS fetched,
             sum(octet_length(m.content)) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
               - octet_length(m.content) AS before
      FROM (${source}) m
    ) m WHERE m.before < ${budget} ${extra}
    ORDER BY ${order}`;
}

const NEWEST_FIRST = 'm.created_at DESC, m.id DESC';
const OLDEST_FIRST = 'm.created_at ASC, m.id ASC';

/**
 * A page of the caller's rooms ($1 owner, $2 limit, $3 offset) that `filter` keeps, most
 * recently active first, each with its last message, and their total; `session` is the
 * parameter of the caller's session.
 */
function roomPage(filter: string, session: string): string {
  return `
    SELECT r.*, ${LAST_MESSAGE},
           (SELECT count(*)::int FROM chat_rooms r WHERE r.owner_id = $1 ${filter}) AS total
    FROM (
      SELECT ${ROOM}, r.message_count AS "messageCount" FROM chat_rooms r
      WHERE r.owner_id = $1 ${filter} AND ${liveSession('$1', session)}
      ORDER BY r.updated_at DESC, r.id DESC LIMIT $2 OFFSET $3
    ) r
    ${LAST_MESSAGE_JOIN}
    ORDER BY r."updatedAt" DESC, r.id DESC`;
}

// Timestamps leave PostgreSQL as the ISO strings the API answers with: no Date in between.
const statement = (name: string, text: string) => sqlStatement(name, text, { isoTimestamps: true });

/** Exported for bench/history.ts, which has PostgreSQL EXPLAIN these very statements. */
export const SQL = {
  createRoom: statement(
    'chat.createRoom',
    `
    INSERT INTO chat_rooms AS r (title, owner_id, model, system_prompt)
    SELECT $1::text, $2::uuid, $4::text, $5::text
    WHERE ${liveSession('$2', '$3')} RETURNING ${ROOM}`,
  ),

  listRooms: statement('chat.listRooms', roomPage('', '$4')),

  // With `q`: only titles containing it (ILIKE, escaped), over ix_chat_rooms_owner_title_trgm
  // when it has trigrams, else the owner's rooms in order. $4 is a LIKE pattern.
  listRoomsByTitle: statement('chat.listRoomsByTitle', roomPage('AND r.title ILIKE $4', '$5')),

  countRoomsByTitle: statement(
    'chat.countRoomsByTitle',
    `
    SELECT count(*)::int AS total, ${liveSession('$1', '$3')} AS "callerExists"
    FROM chat_rooms WHERE owner_id = $1 AND title ILIKE $2`,
  ),

  countRooms: statement(
    'chat.countRooms',
    `
    SELECT count(*)::int AS total, ${liveSession('$1', '$2')} AS "callerExists"
    FROM chat_rooms WHERE owner_id = $1`,
  ),

  callerExists: statement(
    'chat.callerExists',
    `SELECT ${liveSession('$1', '$2')} AS "callerExists"`,
  ),

  // One query for the whole page of rooms, never one per room; the budget ($3) is the page's,
  // spent on the rooms in page order ($1 in page order).
  newestMessagesOfRooms: statement(
    'chat.newestMessagesOfRooms',
    withinBudget(
      `SELECT m.*, page.ord FROM unnest($1::uuid[]) WITH ORDINALITY AS page(room_id, ord)
       CROSS JOIN LATERAL (
         SELECT * FROM messages WHERE chat_room_id = page.room_id
         ORDER BY created_at DESC, id DESC LIMIT $2
       ) m`,
      `m.ord, ${NEWEST_FIRST}`,
      '$3',
    ),
  ),

  getRoom: statement(
    'chat.getRoom',
    `SELECT ${ROOM} FROM chat_rooms r WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$3')}`,
  ),

  // A room's embedded messages and the first message page (no cursor) both read the newest.
  newestMessages: statement(
    'chat.newestMessages',
    withinBudget(
      `SELECT * FROM messages m WHERE m.chat_room_id = $1 ORDER BY ${NEWEST_FIRST} LIMIT $2`,
      NEWEST_FIRST,
      '$3',
    ),
  ),

  // Each of title, model and systemPrompt changes only when the request carries it ($4, $6).
  updateRoom: statement(
    'chat.updateRoom',
    `
    WITH r AS (
      UPDATE chat_rooms r SET title = coalesce($3, r.title),
        model = CASE WHEN $4 THEN $5 ELSE r.model END,
        system_prompt = CASE WHEN $6 THEN $7 ELSE r.system_prompt END,
        updated_at = ${NOW}
      WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$8')}
      RETURNING r.*
    )
    SELECT ${ROOM}, r.message_count AS "messageCount", ${LAST_MESSAGE} FROM r ${LAST_MESSAGE_JOIN}`,
  ),

  deleteRoom: statement(
    'chat.deleteRoom',
    `
    WITH deleted AS (
      DELETE FROM chat_rooms r WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$3')}
      RETURNING r.id
    )
    SELECT id FROM deleted`,
  ),

  // createRoom with an Idempotency-Key (see keyedStatement); $6 to $8 are the key's.
  createRoomKeyed: keyedStatement('chat.createRoom.keyed', {
    params: 5,
    user: '$2',
    ctes: (gate) => `
      work AS (
        INSERT INTO chat_rooms AS r (title, owner_id, model, system_prompt)
        SELECT $1::text, $2::uuid, $4::text, $5::text
        WHERE ${liveSession('$2', '$3')} AND ${gate} RETURNING r.*
      )`,
    body: `json_build_object('id', work.id, 'title', work.title, 'ownerId', work.owner_id,
      'createdAt', ${iso('work.created_at')}, 'updatedAt', ${iso('work.updated_at')},
      'model', work.model, 'systemPrompt', work.system_prompt,
      'messages', '[]'::json, 'hasMoreMessages', false)`,
  }),

  // One statement, so one transaction: the ownership check, the room's row lock (which orders
  // concurrent posts), the message and the room's new updatedAt all happen, or none does.
  postMessage: statement(
    'chat.postMessage',
    `
    WITH room AS (
      UPDATE chat_rooms r SET updated_at = ${NEXT_MESSAGE_AT}, message_count = r.message_count + 1
      WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$5')}
      RETURNING r.id, r.updated_at
    )
    INSERT INTO messages AS m (chat_room_id, owner_id, role, content, created_at)
    SELECT room.id, $2, $3, $4, room.updated_at FROM room
    RETURNING ${MESSAGE}`,
  ),

  // postMessage with an Idempotency-Key (see keyedStatement); $6 to $8 are the key's.
  postMessageKeyed: keyedStatement('chat.postMessage.keyed', {
    params: 5,
    user: '$2',
    ctes: (gate) => `
      room AS (
        UPDATE chat_rooms r SET updated_at = ${NEXT_MESSAGE_AT}, message_count = r.message_count + 1
        WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$5')} AND ${gate}
        RETURNING r.id, r.updated_at
      ),
      work AS (
        INSERT INTO messages AS m (chat_room_id, owner_id, role, content, created_at)
        SELECT room.id, $2, $3, $4, room.updated_at FROM room RETURNING m.*
      )`,
    body: `json_build_object('id', work.id, 'chatRoomId', work.chat_room_id, 'role', work.role,
      'content', work.content, 'createdAt', ${iso('work.created_at')}, 'status', work.status,
      'model', work.model, 'generationId', work.generation_id)`,
  }),

  // The room (ownership) and the cursor message (must be of this room) in one look-up.
  roomAndCursor: statement(
    'chat.roomAndCursor',
    `
    SELECT r.id, c.id AS "cursorId"
    FROM chat_rooms r LEFT JOIN messages c ON c.id = $3 AND c.chat_room_id = r.id
    WHERE r.id = $1 AND r.owner_id = $2 AND ${liveSession('$2', '$4')}`,
  ),

  pageBefore: statement(
    'chat.pageBefore',
    withinBudget(
      `SELECT * FROM messages m
       WHERE m.chat_room_id = $1
         AND (m.created_at, m.id) < (SELECT c.created_at, c.id FROM messages c WHERE c.id = $3)
       ORDER BY ${NEWEST_FIRST} LIMIT $2`,
      NEWEST_FIRST,
      '$4',
    ),
  ),
  pageAfter: statement(
    'chat.pageAfter',
    withinBudget(
      `SELECT * FROM messages m
       WHERE m.chat_room_id = $1
         AND (m.created_at, m.id) > (SELECT c.created_at, c.id FROM messages c WHERE c.id = $3)
       ORDER BY ${OLDEST_FIRST} LIMIT $2`,
      OLDEST_FIRST,
      '$4',
    ),
  ),
};

interface RoomRow {
  id: string;
  title: string;
  ownerId: string;
  createdAt: string;
  updatedAt: string;
  model: string | null;
  systemPrompt: string | null;
}

interface SummaryRow extends RoomRow {
  messageCount: number;
  lmId: string | null;
  lmRole: MessageResponseDto['role'] | null;
  lmContent: string | null;
  lmCreatedAt: string | null;
  lmStatus: MessageResponseDto['status'] | null;
  lmModel: string | null;
  lmGenerationId: string | null;
}

/** A budgeted read's rows (see withinBudget): `fetched` counts the rows before the budget. */
type BudgetedRow = MessageResponseDto & { fetched: number };

/** The messages of a budgeted read, and whether the budget left some of them out. */
function withinBudgetRows(rows: BudgetedRow[]): { messages: MessageResponseDto[]; cut: boolean } {
  const cut = rows.length > 0 && rows[0].fetched > rows.length;
  const messages = rows.map(({ fetched: _fetched, ...message }) => message);
  return { messages, cut };
}

/** A summary's lastMessage: at most PREVIEW_CHARS UTF-16 code units, never half a pair. */
function preview(content: string): { content: string; truncated?: true } {
  if (content.length <= PREVIEW_CHARS) return { content };
  const end = PREVIEW_CHARS - (/[\uD800-\uDBFF]/.test(content[PREVIEW_CHARS - 1]) ? 1 : 0);
  return { content: content.slice(0, end), truncated: true };
}

function toSummary(row: SummaryRow): ChatRoomSummaryDto {
  return {
    id: row.id,
    title: row.title,
    ownerId: row.ownerId,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    model: row.model,
    systemPrompt: row.systemPrompt,
    messageCount: row.messageCount,
    lastMessage:
      row.lmId === null
        ? null
        : {
            id: row.lmId,
            chatRoomId: row.id,
            role: row.lmRole!,
            ...preview(row.lmContent!),
            createdAt: row.lmCreatedAt!,
            status: row.lmStatus!,
            model: row.lmModel,
            generationId: row.lmGenerationId,
          },
  };
}

const postParams = (caller: TokenCaller, roomId: string, dto: CreateMessageDto): unknown[] => [
  roomId,
  caller.id,
  dto.role ?? 'user',
  dto.content,
  caller.sessionId,
];

/** 401 when the token is valid but its user was deleted since (the room's foreign key). */
function ownerGone(error: unknown): never {
  if (error instanceof DatabaseError && error.constraint === 'fk_chat_rooms_owner') {
    throw new UnauthorizedException('Unauthorized');
  }
  throw error;
}

@Injectable()
export class ChatRoomsService {
  constructor(
    private readonly sql: Sql,
    private readonly models: ModelCatalog,
  ) {}

  /**
   * 1 statement; nothing is inserted unless the caller's session is live. `db` is the
   * transaction of an Idempotency-Key, if any.
   */
  async create(
    caller: TokenCaller,
    dto: CreateChatRoomDto,
    db: SqlRunner = this.sql,
  ): Promise<ChatRoomResponseDto> {
    this.models.assertSelectable(dto.model);
    const [room] = await db
      .rows<RoomRow>(SQL.createRoom, this.createParams(caller, dto))
      .catch(ownerGone);
    if (!room) throw new UnauthorizedException('Unauthorized');
    return { ...room, messages: [], hasMoreMessages: false };
  }

  /** create() with an Idempotency-Key, as one statement. */
  createKeyed(caller: TokenCaller, dto: CreateChatRoomDto): OneStatement {
    this.models.assertSelectable(dto.model);
    return {
      statement: SQL.createRoomKeyed,
      params: this.createParams(caller, dto),
      nothing: () => Promise.reject(new UnauthorizedException('Unauthorized')),
      error: ownerGone,
    };
  }

  private createParams(caller: TokenCaller, dto: CreateChatRoomDto): unknown[] {
    return [
      dto.title ?? DEFAULT_ROOM_TITLE,
      caller.id,
      caller.sessionId,
      dto.model ?? null,
      dto.systemPrompt ?? null,
    ];
  }

  /** 1 statement; 2 with include=messages; 1 more when the page is empty (for the total). */
  async list(caller: TokenCaller, query: ListChatRoomsQueryDto): Promise<ChatRoomPageDto> {
    const { limit, offset } = query;
    const pattern = query.q === undefined ? null : containsPattern(query.q);
    const rows = await this.sql.rows<SummaryRow & { total: number }>(
      pattern === null ? SQL.listRooms : SQL.listRoomsByTitle,
      pattern === null
        ? [caller.id, limit, offset, caller.sessionId]
        : [caller.id, limit, offset, pattern, caller.sessionId],
    );
    let total: number;
    if (rows.length > 0) {
      total = rows[0].total;
    } else {
      const [count] = await this.sql.rows<{ total: number; callerExists: boolean }>(
        pattern === null ? SQL.countRooms : SQL.countRoomsByTitle,
        pattern === null ? [caller.id, caller.sessionId] : [caller.id, pattern, caller.sessionId],
      );
      if (!count.callerExists) throw new UnauthorizedException('Unauthorized');
      total = count.total;
    }
    const items = rows.map(toSummary);

    if (query.include === 'messages' && items.length > 0) {
      const rows = await this.sql.rows<BudgetedRow>(SQL.newestMessagesOfRooms, [
        items.map((room) => room.id),
        LIST_MESSAGES_PER_ROOM,
        ANSWER_CONTENT_BYTES,
      ]);
      const { messages } = withinBudgetRows(rows);
      const byRoom = new Map<string, MessageResponseDto[]>(items.map((room) => [room.id, []]));
      for (const message of messages) byRoom.get(message.chatRoomId)!.push(message);
      for (const room of items) {
        room.messages = byRoom.get(room.id)!.reverse();
        room.hasMoreMessages = room.messages.length < room.messageCount;
      }
    }
    return { items, total, limit, offset };
  }

  /** 2 statements, whatever the number of messages. */
  async findOne(caller: TokenCaller, roomId: string): Promise<ChatRoomResponseDto> {
    const [room] = await this.sql.rows<RoomRow>(SQL.getRoom, [roomId, caller.id, caller.sessionId]);
    if (!room) return this.notFound(caller);
    const rows = await this.sql.rows<BudgetedRow>(SQL.newestMessages, [
      roomId,
      ROOM_MESSAGES_LIMIT + 1,
      ANSWER_CONTENT_BYTES,
    ]);
    const { messages, cut } = withinBudgetRows(rows);
    const hasMoreMessages = cut || messages.length > ROOM_MESSAGES_LIMIT;
    if (messages.length > ROOM_MESSAGES_LIMIT) messages.pop();
    return { ...room, messages: messages.reverse(), hasMoreMessages };
  }

  /** 1 statement. */
  async update(
    caller: TokenCaller,
    roomId: string,
    dto: UpdateChatRoomDto,
  ): Promise<ChatRoomSummaryDto> {
    if (dto.title == null && dto.model === undefined && dto.systemPrompt === undefined) {
      throw new BadRequestException('Send at least one of title, model and systemPrompt');
    }
    this.models.assertSelectable(dto.model);
    const [row] = await this.sql.rows<SummaryRow>(SQL.updateRoom, [
      roomId,
      caller.id,
      dto.title ?? null,
      dto.model !== undefined,
      dto.model ?? null,
      dto.systemPrompt !== undefined,
      dto.systemPrompt ?? null,
      caller.sessionId,
    ]);
    if (!row) return this.notFound(caller);
    return toSummary(row);
  }

  /** 1 statement; the room's messages go with it (ON DELETE CASCADE). */
  async remove(caller: TokenCaller, roomId: string): Promise<void> {
    const deleted = await this.sql.rows<{ id: string }>(SQL.deleteRoom, [
      roomId,
      caller.id,
      caller.sessionId,
    ]);
    if (deleted.length === 0) return this.notFound(caller);
  }

  /** 1 statement (see SQL.postMessage); `db` as for create(). */
  async postMessage(
    caller: TokenCaller,
    roomId: string,
    dto: CreateMessageDto,
    db: SqlRunner = this.sql,
  ): Promise<MessageResponseDto> {
    const [message] = await db.rows<MessageResponseDto>(
      SQL.postMessage,
      postParams(caller, roomId, dto),
    );
    if (!message) return this.notFound(caller);
    return message;
  }

  /** postMessage() with an Idempotency-Key, as one statement. */
  postMessageKeyed(caller: TokenCaller, roomId: string, dto: CreateMessageDto): OneStatement {
    return {
      statement: SQL.postMessageKeyed,
      params: postParams(caller, roomId, dto),
      nothing: () => this.notFound(caller),
    };
  }

  /** 2 statements: room and cursor, then the page. */
  async listMessages(
    caller: TokenCaller,
    roomId: string,
    query: ListMessagesQueryDto,
  ): Promise<MessagePageDto> {
    if (query.before && query.after) {
      throw new BadRequestException('Use either before or after, not both');
    }
    const cursorId = query.before ?? query.after ?? null;
    const [room] = await this.sql.rows<{ id: string; cursorId: string | null }>(SQL.roomAndCursor, [
      roomId,
      caller.id,
      cursorId,
      caller.sessionId,
    ]);
    if (!room) return this.notFound(caller);
    if (cursorId && !room.cursorId) {
      throw new BadRequestException('The cursor is not a message of this chat room');
    }

    const take = query.limit + 1;
    const rows = !cursorId
      ? await this.sql.rows<BudgetedRow>(SQL.newestMessages, [roomId, take, ANSWER_CONTENT_BYTES])
      : await this.sql.rows<BudgetedRow>(query.before ? SQL.pageBefore : SQL.pageAfter, [
          roomId,
          take,
          cursorId,
          ANSWER_CONTENT_BYTES,
        ]);
    const { messages, cut } = withinBudgetRows(rows);
    const hasMore = cut || messages.length > query.limit;
    if (messages.length > query.limit) messages.pop();
    // Newest-first reads are turned around: items are always oldest first.
    return { items: query.after ? messages : messages.reverse(), hasMore };
  }

  /**
   * A statement found no room of the caller's: 404, or 401 when the caller's session is no
   * longer live (revoked, or the user deleted). One more statement, on this path only.
   */
  private async notFound(caller: TokenCaller): Promise<never> {
    const [{ callerExists }] = await this.sql.rows<{ callerExists: boolean }>(SQL.callerExists, [
      caller.id,
      caller.sessionId,
    ]);
    throw callerExists
      ? new NotFoundException('Chat room not found')
      : new UnauthorizedException('Unauthorized');
  }
}
