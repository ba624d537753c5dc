import { Injectable } from '@nestjs/common';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement } from '../database/statement';
import { keyableStatement } from '../idempotency/idempotency-keys.repository';
import type { MessageResponseDto } from './dto/message-response.dto';
import type { MessageRole } from './entities/message.entity';
import { toMessage, type MessageRow } from './message.mapper';

// Conversation order is (created_at, id), served by ix_messages_room_created. Ownership is in
// the statement that reads or writes (the room's owner_id is the caller).

/**
 * A message is at least a millisecond newer than the room's last activity, so the messages of a
 * room never share a createdAt: conversation order is the order they were posted in.
 * Milliseconds are what clients see.
 */
const NEXT_MESSAGE_AT = `greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at + interval '1 millisecond')`;

const NEWEST_FIRST = 'm.created_at DESC, m.id DESC';
const OLDEST_FIRST = 'm.created_at ASC, m.id ASC';

/**
 * The rows of `source` (messages `m`, ordered by `order`) while the content before each stays
 * under `budget` bytes: the first row always, so one message larger than the budget is still
 * read. `fetched` is how many rows `source` had, to tell a page the budget cut. octet_length()
 * reads the stored size without de-TOASTing the text.
 */
function withinBudget(source: string, order: string, budget: string): string {
  return `
    SELECT m.id, m.chat_room_id, m.role, m.content, m.created_at, m.status, m.model,
           m.generation_id, m.fetched::int AS fetched
    FROM (
      SELECT m.*, count(*) OVER () AS fetched,
             sum(octet_length(m.content)) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
               - octet_length(m.content) AS before
      FROM (${source}) m
    ) m WHERE m.before < ${budget}
    ORDER BY ${order}`;
}

type BudgetedRow = MessageRow & { fetched: number };
type Cursor = { roomId: string; cursorId: string };
interface Budget {
  /** Most bytes of content (see ANSWER_CONTENT_BYTES). */
  budget: number;
  /** Most rows. */
  take: number;
}

/** The messages of a room just before (`<`, newest first) or after (`>`) the cursor message. */
function pageStatement(id: string, direction: '<' | '>', order: string) {
  return statement<Cursor & Budget, BudgetedRow>(
    id,
    (p) =>
      withinBudget(
        `SELECT * FROM messages m
         WHERE m.chat_room_id = ${p.roomId}
           AND (m.created_at, m.id) ${direction} (SELECT c.created_at, c.id FROM messages c WHERE c.id = ${p.cursorId})
         ORDER BY ${order} LIMIT ${p.take}`,
        order,
        p.budget,
      ),
    { isoTimestamps: true },
  );
}

export const SQL = {
  // One statement, so one transaction: the ownership check, the room's row lock (which orders
  // concurrent posts), the message and the room's new updatedAt all happen, or none does.
  post: keyableStatement<
    { roomId: string; ownerId: string; sessionId: string; role: MessageRole; content: string },
    MessageRow
  >('messages.post', (p, gate) => ({
    with: `
      room AS (
        UPDATE chat_rooms r SET updated_at = ${NEXT_MESSAGE_AT}, message_count = r.message_count + 1
        WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
          AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) ${gate}
        RETURNING r.id, r.updated_at
      )`,
    write: `
      INSERT INTO messages AS m (chat_room_id, owner_id, role, content, created_at)
      SELECT room.id, ${p.ownerId}, ${p.role}, ${p.content}, room.updated_at FROM room
      RETURNING m.*`,
  })),

  // The room (ownership) and the cursor message (must be of this room) in one look-up.
  roomAndCursor: statement<
    { roomId: string; ownerId: string; sessionId: string; cursorId: string | null },
    { id: string; cursor_id: string | null }
  >(
    'messages.roomAndCursor',
    (p) => `
      SELECT r.id, c.id AS cursor_id
      FROM chat_rooms r LEFT JOIN messages c ON c.id = ${p.cursorId} AND c.chat_room_id = r.id
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))`,
  ),

  // A room's embedded messages and the first message page (no cursor) both read the newest.
  newest: statement<{ roomId: string } & Budget, BudgetedRow>(
    'messages.newest',
    (p) =>
      withinBudget(
        `SELECT * FROM messages m WHERE m.chat_room_id = ${p.roomId}
         ORDER BY ${NEWEST_FIRST} LIMIT ${p.take}`,
        NEWEST_FIRST,
        p.budget,
      ),
    { isoTimestamps: true },
  ),

  before: pageStatement('messages.before', '<', NEWEST_FIRST),
  after: pageStatement('messages.after', '>', OLDEST_FIRST),

  // One statement for a whole page of rooms, never one per room; the budget is the page's,
  // spent on the rooms in page order (roomIds in page order).
  newestOfRooms: statement<{ roomIds: string[]; perRoom: number; budget: number }, BudgetedRow>(
    'messages.newestOfRooms',
    (p) =>
      withinBudget(
        `SELECT m.*, page.ord FROM unnest(${p.roomIds}::uuid[]) WITH ORDINALITY AS page(room_id, ord)
         CROSS JOIN LATERAL (
           SELECT * FROM messages WHERE chat_room_id = page.room_id
           ORDER BY created_at DESC, id DESC LIMIT ${p.perRoom}
         ) m`,
        `m.ord, ${NEWEST_FIRST}`,
        p.budget,
      ),
    { isoTimestamps: true },
  ),
};

/** Messages of a read bounded in bytes, and whether the bound left some of them out. */
export interface BudgetedMessages {
  messages: MessageResponseDto[];
  cut: boolean;
}

function budgeted(rows: BudgetedRow[]): BudgetedMessages {
  return { messages: rows.map(toMessage), cut: rows.length > 0 && rows[0].fetched > rows.length };
}

@Injectable()
export class MessagesRepository {
  constructor(private readonly sql: Sql) {}

  /** The new message, or null when the room is not the owner's. */
  async post(
    params: {
      roomId: string;
      ownerId: string;
      sessionId: string;
      role: MessageRole;
      content: string;
    },
    db: SqlRunner = this.sql,
  ): Promise<MessageResponseDto | null> {
    const [row] = await db.rows(SQL.post.plain, params);
    return row ? toMessage(row) : null;
  }

  /** The owner's room, and the cursor when it is a message of that room; null: no such room. */
  async roomAndCursor(params: {
    roomId: string;
    ownerId: string;
    sessionId: string;
    cursorId: string | null;
  }): Promise<{ cursorFound: boolean } | null> {
    const [row] = await this.sql.rows(SQL.roomAndCursor, params);
    return row ? { cursorFound: row.cursor_id !== null } : null;
  }

  /** The newest messages of a room, newest first. */
  async newest(params: { roomId: string } & Budget): Promise<BudgetedMessages> {
    return budgeted(await this.sql.rows(SQL.newest, params));
  }

  /** The messages just older than the cursor, newest first. */
  async before(params: Cursor & Budget): Promise<BudgetedMessages> {
    return budgeted(await this.sql.rows(SQL.before, params));
  }

  /** The messages just newer than the cursor, oldest first. */
  async after(params: Cursor & Budget): Promise<BudgetedMessages> {
    return budgeted(await this.sql.rows(SQL.after, params));
  }

  /** The newest `perRoom` messages of each room, newest first, rooms in the order given. */
  async newestOfRooms(params: {
    roomIds: string[];
    perRoom: number;
    budget: number;
  }): Promise<MessageResponseDto[]> {
    return budgeted(await this.sql.rows(SQL.newestOfRooms, params)).messages;
  }
}
