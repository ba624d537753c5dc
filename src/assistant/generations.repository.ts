import { Injectable } from '@nestjs/common';
import { DatabaseError } from 'pg';
import { messageColumns, messageJson, type MessageRow } from '../chat/message.mapper';
import { applyChanges, ascent, childrenOf, pathAfter, versionMatches } from '../chat/tree.sql';
import { Sql, SqlRunner } from '../database/sql.service';
import { statement, type Placeholders } from '../database/statement';
import type { GenerationRow } from './generation.mapper';

// The SQL of starting and reading generations. Ownership is in the statement that reads
// (g.user_id = caller), and what must happen together is one statement. Messages come as
// their own rows (`am.*`, `row_to_json(um)`), for toMessage().

// Milliseconds, what clients see; a room never moves back in time.
export const NOW_MS = `date_trunc('milliseconds', clock_timestamp())`;
export const TODAY_UTC = `(now() AT TIME ZONE 'UTC')::date`;

/** The check of the start statement that refused it. */
export type StartRefusal =
  | 'unauthorized'
  | 'not_found'
  | 'version'
  | 'bad_parent'
  | 'stale'
  | 'busy'
  | 'concurrency'
  | 'daily'
  | 'no_messages';

export interface StartParams {
  generationId: string;
  roomId: string;
  userId: string;
  /** The caller's session: nothing happens unless it is live ('unauthorized'). */
  sessionId: string;
  /** The user message to post first; null: the reply is to the room as it stands. */
  content: string | null;
  /** Whether parentId places the new message(s); false: after the active message. */
  placeUnder: boolean;
  /** The parent of the user message (with content) or of the reply; null: a first message. */
  parentId: string | null;
  /** If-Match's versions; null: none. */
  ifMatch: number[] | null;
  /** The requested model, else the room's while offered, else the default. */
  model: string | null;
  offeredModels: string[];
  defaultModel: string | null;
  maxRunningPerUser: number;
  dailyTokenLimit: number | null;
  /** The lease key of the instance that will run it. */
  instanceKey: number;
}

interface StartRow {
  refused: StartRefusal | null;
  room_title: string | null;
  has_reply: boolean;
  generation: GenerationRow | null;
  reply: MessageRow | null;
  user_message: MessageRow | null;
}

/** What a start inserted, or the check that refused it. */
export type StartResult =
  | { refused: StartRefusal }
  | {
      refused: null;
      generation: GenerationRow;
      reply: MessageRow;
      userMessage: MessageRow | null;
      /** The room's title, and whether it has a completed reply (for its auto title). */
      room: { title: string; hasReply: boolean };
    };

/** A generation with the messages its event stream is rebuilt from. */
export interface StoredGeneration {
  generation: GenerationRow;
  /** The assistant message it writes, with the text stored so far. */
  reply: MessageRow;
  userMessage: MessageRow | null;
}

export interface UsageTodayRow {
  prompt_tokens: number;
  completion_tokens: number;
  generations: number;
}

/** Exported for the tests that run the start on connections of their own. */
type ReadParams = { generationId: string; userId: string };

/** A generation and its messages, if it is the user's (`also`: a further condition). */
const readText = (p: Placeholders<ReadParams>, also = '') => `
    SELECT ${messageColumns('am')}, row_to_json(g) AS generation, ${messageJson('um')} AS user_message
    FROM generations g JOIN messages am ON am.id = g.message_id
    LEFT JOIN messages um ON um.id = g.user_message_id
    WHERE g.id = ${p.generationId} AND g.user_id = ${p.userId} ${also}`;

export const SQL = {
  // A start, in one statement: run on its own it needs no pooled transaction. 1. Lock the
  // caller's row: one user's starts wait for each other, on every instance (and a deleted
  // caller is not found). 2. Lock the room (owned, exists; its latest version and active
  // message). 3. The checks, in this order: If-Match, the parentId (a message of the room;
  // `stale`: another change of the room committed while this statement waited for its lock,
  // so its snapshot does not show the tree a parentId places the messages in, and the start
  // is run again), busy, per-user running count, daily tokens, nothing to reply to. 4. Only if
  // all pass: today's usage row, the room's activity, version and active message (the reply),
  // the path moved to the parent's (parentId only), the user message (when content is not
  // null) a millisecond before the reply, the reply and the generation. `has_reply`: a
  // completed reply on the path down to the new reply's parent (the auto-title's test).
  // The checks read the statement's snapshot, taken before the locks were granted: a start
  // of the same user committed while this one waited is not in it. The usage row counts
  // today's starts and is read at its latest version by ON CONFLICT: the starts this
  // snapshot missed are its count minus the one seen here, and the running check is redone
  // with them. A room's second running generation is refused by uq_generations_room_streaming.
  start: statement<StartParams, StartRow>(
    'generations.start',
    (p) => `
    WITH caller AS MATERIALIZED (
      SELECT u.id FROM users u
      WHERE u.id = ${p.userId} AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.userId}))
      FOR NO KEY UPDATE
    ), room AS MATERIALIZED (
      SELECT r.id, r.title, r.model, r.version, r.active_message_id,
        CASE WHEN ${p.placeUnder} THEN ${p.parentId}::uuid ELSE r.active_message_id END AS parent_id
      FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.userId} AND EXISTS (SELECT 1 FROM caller)
      FOR UPDATE
    ), walk AS MATERIALIZED (
      ${ascent(p.roomId + '::uuid', '(SELECT parent_id FROM room)')}
    ), branch AS MATERIALIZED (
      SELECT w.id, w.created_at FROM walk w WHERE w.on_path
    ), seen AS MATERIALIZED (
      SELECT
        EXISTS (SELECT 1 FROM generations g WHERE g.chat_room_id = ${p.roomId} AND g.status = 'streaming') AS busy,
        (SELECT count(*)::int FROM generations g WHERE g.user_id = ${p.userId} AND g.status = 'streaming') AS running,
        EXISTS (SELECT 1 FROM walk) AS parent_found,
        (SELECT s.version FROM chat_rooms s WHERE s.id = ${p.roomId}) IS DISTINCT FROM (SELECT version FROM room) AS stale,
        EXISTS (SELECT 1 FROM walk w JOIN messages m ON m.id = w.id
                WHERE NOT w.on_path AND m.role = 'assistant' AND m.status = 'complete' AND m.generation_id IS NOT NULL)
        OR EXISTS (SELECT 1 FROM messages m, branch b
                WHERE m.chat_room_id = ${p.roomId} AND m.on_active_path AND (m.created_at, m.id) <= (b.created_at, b.id)
                  AND m.role = 'assistant' AND m.status = 'complete' AND m.generation_id IS NOT NULL) AS has_reply,
        coalesce(u.generations, 0) AS starts,
        coalesce(u.prompt_tokens + u.completion_tokens, 0)::float8 AS used_today
      FROM (SELECT 1) one
      LEFT JOIN usage_days u ON u.user_id = ${p.userId} AND u.day = ${TODAY_UTC}
    ), verdict AS MATERIALIZED (
      SELECT s.*, CASE
        WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
        WHEN NOT EXISTS (SELECT 1 FROM room) THEN 'not_found'
        WHEN NOT (SELECT ${versionMatches('version', p.ifMatch)} FROM room) THEN 'version'
        WHEN ${p.placeUnder} AND ${p.parentId}::uuid IS NOT NULL AND NOT s.parent_found THEN 'bad_parent'
        WHEN ${p.placeUnder} AND s.stale THEN 'stale'
        WHEN s.busy THEN 'busy'
        WHEN s.running >= ${p.maxRunningPerUser} THEN 'concurrency'
        WHEN s.used_today >= ${p.dailyTokenLimit}::float8 THEN 'daily'
        WHEN ${p.content}::text IS NULL AND (SELECT parent_id FROM room) IS NULL THEN 'no_messages'
      END AS refused
      FROM seen s
    ), usage AS (
      INSERT INTO usage_days AS u (user_id, day, generations)
      SELECT ${p.userId}, ${TODAY_UTC}, 1 FROM verdict WHERE verdict.refused IS NULL
      ON CONFLICT (user_id, day) DO UPDATE SET generations = u.generations + 1
      WHERE (SELECT v.running - v.starts FROM verdict v) + u.generations < ${p.maxRunningPerUser}
      RETURNING u.user_id
    ), ids AS MATERIALIZED (
      SELECT gen_random_uuid() AS um_id, gen_random_uuid() AS am_id
    ), touched AS (
      UPDATE chat_rooms r
      SET updated_at = greatest(${NOW_MS}, r.updated_at + interval '2 milliseconds'),
          message_count = r.message_count + CASE WHEN ${p.content}::text IS NULL THEN 1 ELSE 2 END,
          version = r.version + 1, active_message_id = ids.am_id
      FROM usage, ids WHERE r.id = ${p.roomId} RETURNING r.id, r.updated_at, r.version
    ), siblings AS MATERIALIZED (
      ${childrenOf(p.roomId + '::uuid', '(SELECT parent_id FROM room)')}
    ), moved AS (${applyChanges(
      // Only a parentId moves the path (the active message is a leaf: what follows it only grows).
      `SELECT id, true AS on_path, 0 AS siblings FROM walk WHERE NOT on_path
       UNION ALL SELECT id, false, 0 FROM (${pathAfter(p.roomId + '::uuid', 'branch')}) a
       UNION ALL SELECT id, NULL, 1 FROM siblings`,
      '(SELECT version FROM touched)',
      `touched WHERE ${p.placeUnder}`,
    )}), um AS (
      INSERT INTO messages (id, chat_room_id, role, content, created_at, parent_id, on_active_path,
                            chosen_version, sibling_count)
      SELECT ids.um_id, touched.id, 'user', ${p.content}, touched.updated_at - interval '1 millisecond',
        room.parent_id, true, touched.version, (SELECT count(*) FROM siblings)::int + 1
      FROM touched, ids, room
      WHERE ${p.content}::text IS NOT NULL
      RETURNING *
    ), am AS (
      INSERT INTO messages (id, chat_room_id, role, content, status, model, generation_id, created_at,
                            parent_id, on_active_path, chosen_version, sibling_count)
      SELECT ids.am_id, touched.id, 'assistant', '', 'streaming',
        coalesce(${p.model}, CASE WHEN room.model = ANY(${p.offeredModels}::text[]) THEN room.model END,
                 ${p.defaultModel}),
        ${p.generationId}, touched.updated_at,
        CASE WHEN ${p.content}::text IS NULL THEN room.parent_id ELSE ids.um_id END, true, touched.version,
        CASE WHEN ${p.content}::text IS NULL THEN (SELECT count(*) FROM siblings)::int + 1 ELSE 1 END
      FROM touched, room, ids
      RETURNING *
    ), g AS (
      INSERT INTO generations (id, chat_room_id, message_id, user_message_id, user_id, model,
                               owner_instance, created_at)
      SELECT ${p.generationId}, am.chat_room_id, am.id, (SELECT id FROM um), ${p.userId}, am.model,
             ${p.instanceKey}, am.created_at
      FROM am
      RETURNING *
    )
    SELECT coalesce(v.refused, CASE WHEN g.id IS NULL THEN 'concurrency' END) AS refused,
      room.title AS room_title, v.has_reply,
      row_to_json(g) AS generation, ${messageJson('am', true)} AS reply,
      ${messageJson('um', true)} AS user_message
    FROM verdict v LEFT JOIN room ON true LEFT JOIN g ON true LEFT JOIN am ON true
    LEFT JOIN um ON true`,
    { isoTimestamps: true, planEachTime: true },
  ),

  // A generation with everything its event stream is rebuilt from. Ownership: userId.
  read: statement<ReadParams, ReadRow>('generations.read', (p) => readText(p), {
    isoTimestamps: true,
  }),
  // The same, for a route: nothing unless the caller's session is live.
  readForCaller: statement<ReadParams & { sessionId: string }, ReadRow>(
    'generations.readForCaller',
    (p) => readText(p, `AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.userId}))`),
    { isoTimestamps: true },
  ),

  systemPrompt: statement<{ roomId: string }, { system_prompt: string | null }>(
    'generations.systemPrompt',
    (p) => `SELECT system_prompt FROM chat_rooms WHERE id = ${p.roomId}`,
  ),

  // The history sent to the model, newest first: the path from the reply's parent up to the
  // root, roughly cut to maxChars (PostgreSQL counts code points, JavaScript UTF-16 units: the
  // exact cut is made in code); never another branch. Failed replies without text are left
  // out: they say nothing (and count nothing).
  history: statement<
    { roomId: string; replyId: string; maxChars: number },
    { role: MessageRow['role']; content: string }
  >(
    'generations.history',
    (p) => `
    WITH RECURSIVE up AS (
      SELECT m.id, m.parent_id, m.role, m.content, m.status, 1 AS n,
             length(m.content)::bigint AS through
      FROM messages r JOIN messages m ON m.chat_room_id = r.chat_room_id AND m.id = r.parent_id
      WHERE r.id = ${p.replyId} AND r.chat_room_id = ${p.roomId}
      UNION ALL
      SELECT m.id, m.parent_id, m.role, m.content, m.status, up.n + 1,
             up.through + length(m.content)
      FROM up JOIN messages m ON m.chat_room_id = ${p.roomId} AND m.id = up.parent_id
      WHERE up.through <= ${p.maxChars}
    )
    SELECT role, content FROM up
    WHERE NOT (role = 'assistant' AND status = 'failed' AND content = '')
    ORDER BY n`,
  ),

  // No row when the caller's session is not live.
  usageToday: statement<{ userId: string; sessionId: string }, UsageTodayRow>(
    'generations.usageToday',
    (p) => `
    SELECT coalesce(u.prompt_tokens, 0)::float8 AS prompt_tokens,
           coalesce(u.completion_tokens, 0)::float8 AS completion_tokens,
           coalesce(u.generations, 0) AS generations
    FROM (SELECT EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.userId})) AS live) caller
    LEFT JOIN usage_days u ON u.user_id = ${p.userId} AND u.day = ${TODAY_UTC}
    WHERE caller.live`,
  ),
};

type ReadRow = MessageRow & { generation: GenerationRow; user_message: MessageRow | null };

function stored(row: ReadRow | undefined): StoredGeneration | null {
  if (!row) return null;
  const { generation, user_message: userMessage, ...reply } = row;
  return { generation, reply, userMessage };
}

/** Starts and reads of generations, the context of a reply, the day's usage. */
@Injectable()
export class GenerationsRepository {
  constructor(private readonly sql: Sql) {}

  /** The checks and writes of a start, in one statement through `db` (a key's transaction). */
  async start(db: SqlRunner, params: StartParams): Promise<StartResult> {
    let row: StartRow;
    try {
      [row] = await db.rows(SQL.start, params);
    } catch (error) {
      if (error instanceof DatabaseError && error.constraint === 'uq_generations_room_streaming') {
        return { refused: 'busy' };
      }
      throw error;
    }
    if (row.refused !== null) return { refused: row.refused };
    return {
      refused: null,
      generation: row.generation!,
      reply: row.reply!,
      userMessage: row.user_message,
      room: { title: row.room_title!, hasReply: row.has_reply },
    };
  }

  /** The generation if it is the user's. */
  async read(params: ReadParams): Promise<StoredGeneration | null> {
    return stored((await this.sql.rows(SQL.read, params))[0]);
  }

  /** The generation if it is the caller's and the caller's session is live. */
  async readForCaller(
    params: ReadParams & { sessionId: string },
  ): Promise<StoredGeneration | null> {
    return stored((await this.sql.rows(SQL.readForCaller, params))[0]);
  }

  async systemPrompt(params: { roomId: string }): Promise<string | null> {
    const [row] = await this.sql.rows(SQL.systemPrompt, params);
    return row.system_prompt;
  }

  /** The room's messages but the reply, newest first, about `maxChars` of them. */
  history(params: { roomId: string; replyId: string; maxChars: number }) {
    return this.sql.rows(SQL.history, params);
  }

  /** Today's usage; null when the caller's session is not live. */
  async usageToday(params: { userId: string; sessionId: string }): Promise<UsageTodayRow | null> {
    const [row] = await this.sql.rows(SQL.usageToday, params);
    return row ?? null;
  }
}
