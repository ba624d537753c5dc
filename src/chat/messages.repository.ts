import { Injectable } from '@nestjs/common';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement } from '../database/statement';
import { keyableStatement } from '../idempotency/idempotency-keys.repository';
import type { MessageResponseDto } from './dto/message-response.dto';
import type { MessageRole } from './entities/message.entity';
import { messageColumns, toMessage, type MessageRow } from './message.mapper';
import {
  applyChanges,
  ascent,
  childrenOf,
  descent,
  lockedRoom,
  lockRoom,
  pathAfter,
} from './tree.sql';

// Conversation order is (created_at, id): over the active path (ix_messages_active_path), or
// over every branch (ix_messages_room_created). Along any path it is the path's order: a
// message is always newer than its parent. Ownership is in the statement that reads or
// writes (the room's owner_id is the caller).

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
    SELECT ${messageColumns('m')}, m.fetched::int AS fetched
    FROM (
      SELECT m.*, count(*) OVER () AS fetched,
             sum(octet_length(m.content)) OVER (ORDER BY ${order} ROWS UNBOUNDED PRECEDING)
               - octet_length(m.content) AS before
      FROM (${source}) m
    ) m WHERE m.before < ${budget}
    ORDER BY ${order}`;
}

type BudgetedRow = MessageRow & { fetched: number };
/** What a page pages over: the active path, the path through an off-path cursor, every branch. */
export type PageScope = 'path' | 'cursor' | 'all';
type Cursor = { roomId: string; cursorId: string };
interface Budget {
  /** Most bytes of content (see ANSWER_CONTENT_BYTES). */
  budget: number;
  /** Most rows. */
  take: number;
}

/** Which messages a read pages over: the active path, or every branch (`branch=all`). */
const ON_PATH = 'AND m.on_active_path';
type Scope = typeof ON_PATH | '';

/**
 * The messages of a room (in `scope`) just before (`<`, newest first) or after (`>`) the
 * cursor message.
 */
function pageStatement(id: string, scope: Scope, direction: '<' | '>', order: string) {
  return statement<Cursor & Budget, BudgetedRow>(
    id,
    (p) =>
      withinBudget(
        `SELECT * FROM messages m
         WHERE m.chat_room_id = ${p.roomId} ${scope}
           AND (m.created_at, m.id) ${direction} (SELECT c.created_at, c.id FROM messages c WHERE c.id = ${p.cursorId})
         ORDER BY ${order} LIMIT ${p.take}`,
        order,
        p.budget,
      ),
    { isoTimestamps: true },
  );
}

/** The newest messages of a room in `scope`. */
function newestStatement(id: string, scope: Scope) {
  return statement<{ roomId: string } & Budget, BudgetedRow>(
    id,
    (p) =>
      withinBudget(
        `SELECT * FROM messages m WHERE m.chat_room_id = ${p.roomId} ${scope}
         ORDER BY ${NEWEST_FIRST} LIMIT ${p.take}`,
        NEWEST_FIRST,
        p.budget,
      ),
    { isoTimestamps: true },
  );
}

/** The columns a posted message is inserted with. */
const INSERTED = `(id, chat_room_id, owner_id, role, content, created_at, parent_id, on_active_path,
  chosen_version, sibling_count)`;

/**
 * `ids` (the new message's id) and `room`: the room of CTE `from` (its id) with the message
 * posted — the new active message, updatedAt, messageCount and `version`.
 */
const roomPosted = (from: string, version: string) => `
  ids AS MATERIALIZED (SELECT gen_random_uuid() AS id),
  room AS (
    UPDATE chat_rooms r SET updated_at = ${NEXT_MESSAGE_AT}, message_count = r.message_count + 1,
      version = ${version}, active_message_id = ids.id
    FROM ${from}, ids WHERE r.id = ${from}.id
    RETURNING r.id, r.updated_at, r.version
  )`;

/** The parameters of a post. `ifMatch`: the If-Match versions, null without (see room-versions.ts). */
export interface PostParams {
  roomId: string;
  ownerId: string;
  sessionId: string;
  role: MessageRole;
  content: string;
  ifMatch: number[] | null;
}

export const SQL = {
  // A post after the active message (no parentId; a v2 client's only kind), in one statement,
  // so one transaction: the ownership check, the room's row lock (which orders concurrent
  // posts and gives the latest active message), the message, the room's new active message,
  // updatedAt and version all happen, or none does. The active message is a leaf, so the new
  // message has no sibling and the path only grows.
  post: keyableStatement<PostParams, MessageRow>('messages.post', (p, gate) => ({
    with: `
      ${lockRoom(p, gate)},
      ${roomPosted('locked', 'r.version + 1')}`,
    write: `
      INSERT INTO messages AS m ${INSERTED}
      SELECT ids.id, room.id, ${p.ownerId}, ${p.role}, ${p.content}, room.updated_at,
             locked.active_message_id, true, room.version, 1
      FROM room, ids, locked
      RETURNING ${messageColumns('m')}`,
  })),

  // A post under `parentId` (NULL: a new first message): the parent's path becomes the active
  // one (the parent and those of its ancestors not on it join; what followed the branch point
  // leaves), the parent's other children get a sibling, and the rest is as in post.
  postUnder: keyableStatement<PostParams & { parentId: string | null }, MessageRow>(
    'messages.postUnder',
    (p, gate) => ({
      with: `
        ${lockedRoom(p, gate)},
        placed AS MATERIALIZED (
          SELECT fresh.id, fresh.version + 1 AS version FROM fresh
          WHERE ${p.parentId}::uuid IS NULL
             OR EXISTS (SELECT FROM messages m WHERE m.chat_room_id = fresh.id AND m.id = ${p.parentId}::uuid)
        ),
        walk AS MATERIALIZED (${ascent('(SELECT id FROM placed)', `${p.parentId}::uuid`)}),
        branch AS MATERIALIZED (SELECT id, created_at FROM walk WHERE on_path),
        siblings AS MATERIALIZED (${childrenOf('(SELECT id FROM placed)', `${p.parentId}::uuid`)}),
        moved AS (${applyChanges(
          `SELECT id, true AS on_path, 0 AS siblings FROM walk WHERE NOT on_path
           UNION ALL SELECT id, false, 0 FROM (${pathAfter('(SELECT id FROM placed)', 'branch')}) a
           UNION ALL SELECT id, NULL, 1 FROM siblings`,
          '(SELECT version FROM placed)',
          'placed',
        )}),
        ${roomPosted('placed', 'placed.version')}`,
      write: `
        INSERT INTO messages AS m ${INSERTED}
        SELECT ids.id, room.id, ${p.ownerId}, ${p.role}, ${p.content}, room.updated_at,
               ${p.parentId}::uuid, true, room.version, (SELECT count(*) FROM siblings)::int + 1
        FROM room, ids
        RETURNING ${messageColumns('m', true)}`,
    }),
  ),

  // The room (ownership) and the cursor message (must be of this room) in one look-up.
  roomAndCursor: statement<
    { roomId: string; ownerId: string; sessionId: string; cursorId: string | null },
    { id: string; cursor_id: string | null; cursor_on_path: boolean | null }
  >(
    'messages.roomAndCursor',
    (p) => `
      SELECT r.id, c.id AS cursor_id, c.on_active_path AS cursor_on_path
      FROM chat_rooms r LEFT JOIN messages c ON c.id = ${p.cursorId} AND c.chat_room_id = r.id
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))`,
  ),

  // A room's embedded messages and the first message page (no cursor) both read the newest.
  newest: newestStatement('messages.newest', ON_PATH),
  before: pageStatement('messages.before', ON_PATH, '<', NEWEST_FIRST),
  after: pageStatement('messages.after', ON_PATH, '>', OLDEST_FIRST),
  // branch=all: every branch, in conversation order.
  allNewest: newestStatement('messages.allNewest', ''),
  allBefore: pageStatement('messages.allBefore', '', '<', NEWEST_FIRST),
  allAfter: pageStatement('messages.allAfter', '', '>', OLDEST_FIRST),

  // A cursor off the active path pages along its own path: its ancestors (newest first)…
  ancestors: statement<Cursor & Budget, BudgetedRow>(
    'messages.ancestors',
    (p) =>
      withinBudget(
        `WITH RECURSIVE up AS (
           SELECT m.*, 1 AS n FROM messages c
           JOIN messages m ON m.chat_room_id = c.chat_room_id AND m.id = c.parent_id
           WHERE c.id = ${p.cursorId} AND c.chat_room_id = ${p.roomId}
           UNION ALL
           SELECT m.*, up.n + 1 FROM up
           JOIN messages m ON m.chat_room_id = up.chat_room_id AND m.id = up.parent_id
           WHERE up.n < ${p.take}
         ) SELECT * FROM up`,
        NEWEST_FIRST,
        p.budget,
      ),
    { isoTimestamps: true },
  ),
  // …and the branch below it that was active most recently (oldest first).
  descendants: statement<Cursor & Budget, BudgetedRow>(
    'messages.descendants',
    (p) =>
      withinBudget(
        `SELECT m.* FROM (${descent(`${p.roomId}::uuid`, `${p.cursorId}::uuid`, 'NULL::uuid', p.take)}) d
         JOIN messages m ON m.id = d.id`,
        OLDEST_FIRST,
        p.budget,
      ),
    { isoTimestamps: true, planEachTime: true },
  ),

  // One statement for a whole page of rooms, never one per room; the budget is the page's,
  // spent on the rooms in page order (roomIds in page order).
  newestOfRooms: statement<{ roomIds: string[]; perRoom: number; budget: number }, BudgetedRow>(
    'messages.newestOfRooms',
    (p) =>
      withinBudget(
        `SELECT m.*, page.ord FROM unnest(${p.roomIds}::uuid[]) WITH ORDINALITY AS page(room_id, ord)
         CROSS JOIN LATERAL (
           SELECT * FROM messages WHERE chat_room_id = page.room_id AND on_active_path
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

  /**
   * The new message: after the active message without `parentId`, else under it. Null when
   * nothing was written (see postRefusal).
   */
  async post(
    params: PostParams & { parentId?: string | null },
    db: SqlRunner = this.sql,
  ): Promise<MessageResponseDto | null> {
    const { parentId, ...rest } = params;
    const [row] =
      parentId === undefined
        ? await db.rows(SQL.post.plain, rest)
        : await db.rows(SQL.postUnder.plain, { ...rest, parentId });
    return row ? toMessage(row) : null;
  }

  /**
   * The owner's room, and the cursor when it is a message of that room (with whether it is on
   * the active path); null: no such room.
   */
  async roomAndCursor(params: {
    roomId: string;
    ownerId: string;
    sessionId: string;
    cursorId: string | null;
  }): Promise<{ cursorFound: boolean; cursorOnPath: boolean } | null> {
    const [row] = await this.sql.rows(SQL.roomAndCursor, params);
    return row
      ? { cursorFound: row.cursor_id !== null, cursorOnPath: row.cursor_on_path === true }
      : null;
  }

  /** The newest messages of the room's active path (or of every branch), newest first. */
  async newest(
    params: { roomId: string } & Budget,
    allBranches = false,
    db: SqlRunner = this.sql,
  ): Promise<BudgetedMessages> {
    return budgeted(await db.rows(allBranches ? SQL.allNewest : SQL.newest, params));
  }

  /**
   * The messages just older than the cursor, newest first: on the active path when the cursor
   * is on it, else the cursor's ancestors; or of every branch.
   */
  async before(params: Cursor & Budget, scope: PageScope): Promise<BudgetedMessages> {
    const stmt = scope === 'all' ? SQL.allBefore : scope === 'path' ? SQL.before : SQL.ancestors;
    return budgeted(await this.sql.rows(stmt, params));
  }

  /**
   * The messages just newer than the cursor, oldest first: on the active path when the cursor
   * is on it, else down the cursor's most recently active branch; or of every branch.
   */
  async after(params: Cursor & Budget, scope: PageScope): Promise<BudgetedMessages> {
    const stmt = scope === 'all' ? SQL.allAfter : scope === 'path' ? SQL.after : SQL.descendants;
    return budgeted(await this.sql.rows(stmt, params));
  }

  /** The newest `perRoom` messages of each room's active path, newest first, in the order given. */
  async newestOfRooms(params: {
    roomIds: string[];
    perRoom: number;
    budget: number;
  }): Promise<MessageResponseDto[]> {
    return budgeted(await this.sql.rows(SQL.newestOfRooms, params)).messages;
  }
}
