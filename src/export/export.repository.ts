import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';
import type { MessageRole, MessageStatus } from '../chat/entities/message.entity';

// An export reads in keyset pages, each its own statement: no transaction or cursor is held
// while the client downloads (a slow client would hold a connection and a snapshot for as long,
// past the idle-in-transaction timeout). Rooms go in (created_at, id) order, which never
// changes while a room lives (updated_at does): a room is exported once, whatever happens to
// the others meanwhile. Messages go in conversation order over ix_messages_room_created.
// Ownership and the session are proved by each route's first statement; later pages read by
// the ids that statement returned.

/** A room as the export writes it (timestamps as the API's ISO strings). */
export interface ExportRoomRow {
  id: string;
  title: string;
  created_at: string;
  updated_at: string;
  model: string | null;
  system_prompt: string | null;
  active_message_id: string | null;
  /** Every message of the room when the page was read (it may grow meanwhile). */
  message_count: number;
}

/**
 * A message as the export writes it. `ord`: its room's place in the rooms read together
 * (from 1); `fetched`: how many rows the page read before its byte budget cut it.
 */
export interface ExportMessageRow {
  ord: number;
  id: string;
  parent_id: string | null;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  model: string | null;
  created_at: string;
  fetched: number;
}

/** Where a keyset page starts: after (created_at, id); see START. */
export interface Keyset {
  afterAt: string;
  afterId: string;
}

/** Before every room and every message. */
export const START: Keyset = {
  afterAt: '-infinity',
  afterId: '00000000-0000-0000-0000-000000000000',
};

/** Where a page of the messages of several rooms starts: after (room, created_at, id). */
export type RoomsKeyset = Keyset & { fromOrd: number };

const ROOM_COLUMNS = `r.id, r.title, r.created_at, r.updated_at, r.model, r.system_prompt, r.active_message_id,
  r.message_count`;
const iso = { isoTimestamps: true };
/**
 * Pages of rooms (their system prompts) and of messages are large answers: on a pipelined
 * connection they would hold up the small statements of other requests queued behind them.
 */
const bulk = { isoTimestamps: true, pooled: true };

export const SQL = {
  // The first page of the caller's rooms, if the session is live (nothing: no room, or 401).
  firstRooms: statement<{ ownerId: string; sessionId: string; take: number }, ExportRoomRow>(
    'export.firstRooms',
    (p) => `
      SELECT ${ROOM_COLUMNS} FROM chat_rooms r
      WHERE r.owner_id = ${p.ownerId} AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
      ORDER BY r.created_at, r.id LIMIT ${p.take}`,
    bulk,
  ),

  // The next page of the owner's rooms.
  rooms: statement<{ ownerId: string; take: number } & Keyset, ExportRoomRow>(
    'export.rooms',
    (p) => `
      SELECT ${ROOM_COLUMNS} FROM chat_rooms r
      WHERE r.owner_id = ${p.ownerId}
        AND (r.created_at, r.id) > (${p.afterAt}::timestamptz, ${p.afterId}::uuid)
      ORDER BY r.created_at, r.id LIMIT ${p.take}`,
    bulk,
  ),

  // One room of the caller's, if the session is live (nothing: 404, or 401).
  room: statement<{ roomId: string; ownerId: string; sessionId: string }, ExportRoomRow>(
    'export.room',
    (p) => `
      SELECT ${ROOM_COLUMNS} FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))`,
    iso,
  ),

  // A page of the messages of some rooms (`roomIds`, in their order), every branch, each room's
  // in conversation order: at most `take` rows, and only while the content before each stays
  // under `budget` bytes (the first row always, so a message larger than the budget is still
  // read). Rooms of few messages are read together, a room of many alone: each room's scan
  // starts at the keyset (from `fromOrd` on; the room at `fromOrd` after (afterAt, afterId))
  // and reads no more than the page, over ix_messages_room_created. octet_length() reads the
  // stored size without de-TOASTing the text.
  messages: statement<
    { roomIds: string[]; take: number; budget: number } & RoomsKeyset,
    ExportMessageRow
  >(
    'export.messages',
    (p) => `
      SELECT m.ord::int AS ord, m.id, m.parent_id, m.role, m.content, m.status, m.model,
             m.created_at, m.fetched::int AS fetched
      FROM (
        SELECT m.*, count(*) OVER () AS fetched,
               sum(octet_length(m.content)) OVER (ORDER BY m.ord, m.created_at, m.id ROWS UNBOUNDED PRECEDING)
                 - octet_length(m.content) AS before
        FROM (
          SELECT page.ord, m.*
          FROM unnest(${p.roomIds}::uuid[]) WITH ORDINALITY AS page(room_id, ord)
          CROSS JOIN LATERAL (
            SELECT m.id, m.parent_id, m.role, m.content, m.status, m.model, m.created_at
            FROM messages m
            WHERE m.chat_room_id = page.room_id
              AND (m.created_at, m.id) > (
                CASE WHEN page.ord = ${p.fromOrd} THEN ${p.afterAt}::timestamptz ELSE '-infinity' END,
                CASE WHEN page.ord = ${p.fromOrd} THEN ${p.afterId}::uuid ELSE '${START.afterId}' END)
            ORDER BY m.created_at, m.id LIMIT ${p.take}
          ) m
          WHERE page.ord >= ${p.fromOrd}
          ORDER BY page.ord, m.created_at, m.id LIMIT ${p.take}
        ) m
      ) m WHERE m.before < ${p.budget}
      ORDER BY m.ord, m.created_at, m.id`,
    bulk,
  ),
};

/** A page of messages, and whether the rooms have more after it. */
export interface MessagePage {
  rows: ExportMessageRow[];
  more: boolean;
}

@Injectable()
export class ExportRepository {
  constructor(private readonly sql: Sql) {}

  /** The first `take` rooms of the caller, oldest first; [] when none, or the session is not live. */
  firstRooms(params: { ownerId: string; sessionId: string; take: number }) {
    return this.sql.rows(SQL.firstRooms, params);
  }

  /** The owner's next `take` rooms after the keyset, oldest first. */
  rooms(params: { ownerId: string; take: number } & Keyset) {
    return this.sql.rows(SQL.rooms, params);
  }

  /** The caller's room; null when there is none, or the session is not live. */
  async room(params: {
    roomId: string;
    ownerId: string;
    sessionId: string;
  }): Promise<ExportRoomRow | null> {
    const [row] = await this.sql.rows(SQL.room, params);
    return row ?? null;
  }

  /**
   * The next messages of these rooms after the keyset (every branch, each room's in
   * conversation order): at most `take`, fewer when their content passes `budget` bytes (never
   * none while some remain).
   */
  async messages(
    params: { roomIds: string[]; take: number; budget: number } & RoomsKeyset,
  ): Promise<MessagePage> {
    // One row more than the page, to know whether the room goes on without asking again.
    const rows = await this.sql.rows(SQL.messages, { ...params, take: params.take + 1 });
    const fetched = rows.length > 0 ? rows[0].fetched : 0;
    const more = rows.length < fetched || rows.length > params.take;
    if (rows.length > params.take) rows.pop();
    return { rows, more };
  }
}
