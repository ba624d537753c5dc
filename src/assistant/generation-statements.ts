import { statement as sqlStatement } from '../database/sql.service';
import { LEASE_CLASS } from './instance-lease';

// The assistant's SQL, written out like chat's: ownership is in the statement that reads
// (g.user_id = caller), and what must happen together is one statement or one transaction.

const statement = (name: string, text: string) => sqlStatement(name, text, { isoTimestamps: true });

export const GENERATION = `g.id, g.chat_room_id AS "chatRoomId", g.message_id AS "messageId", g.status,
  g.model, g.finish_reason AS "finishReason", g.prompt_tokens AS "promptTokens",
  g.completion_tokens AS "completionTokens", g.error_code AS "errorCode",
  g.created_at AS "createdAt", g.finished_at AS "finishedAt"`;
const MESSAGE = (m: string, prefix: string) =>
  `${m}.id AS "${prefix}Id", ${m}.chat_room_id AS "${prefix}ChatRoomId", ${m}.role AS "${prefix}Role",
   ${m}.content AS "${prefix}Content", ${m}.created_at AS "${prefix}CreatedAt", ${m}.status AS "${prefix}Status",
   ${m}.model AS "${prefix}Model", ${m}.generation_id AS "${prefix}GenerationId"`;
// Milliseconds, what clients see; a room never moves back in time.
const NOW_MS = `date_trunc('milliseconds', clock_timestamp())`;
const TODAY_UTC = `(now() AT TIME ZONE 'UTC')::date`;
// Instances alive now: those holding their lease (InstanceLease) in this database.
const OWNER_ALIVE = `EXISTS (
  SELECT 1 FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND l.classid = ${LEASE_CLASS}::oid AND l.objid = g.owner_instance::oid)`;

export const SQL = {
  // A start, in one statement: run on its own it needs no pooled transaction. 1. Lock the
  // caller's row: one user's starts wait for each other, on every instance (and a deleted
  // caller is not found). 2. Lock the room (owned, exists). 3. The checks, in this order:
  // busy, per-user running count, daily tokens, nothing to reply to. 4. Only if all pass:
  // today's usage row, the room's activity, the user message (when $3 is not null) a
  // millisecond before the reply, the reply and the generation.
  // The checks read the statement's snapshot, taken before the locks were granted: a start
  // of the same user committed while this one waited is not in it. The usage row counts
  // today's starts and is read at its latest version by ON CONFLICT: the starts this
  // snapshot missed are its count minus the one seen here, and the running check is redone
  // with them. A room's second running generation is refused by uq_generations_room_streaming.
  // $4: the requested model, else the room's while offered ($5), else the default ($6).
  start: statement(
    'assistant.start',
    `
    WITH caller AS MATERIALIZED (
      SELECT u.id FROM users u WHERE u.id = $2 FOR NO KEY UPDATE
    ), room AS MATERIALIZED (
      SELECT r.id, r.title, r.model FROM chat_rooms r
      WHERE r.id = $1 AND r.owner_id = $2 AND EXISTS (SELECT 1 FROM caller)
      FOR UPDATE
    ), seen AS MATERIALIZED (
      SELECT
        EXISTS (SELECT 1 FROM generations g WHERE g.chat_room_id = $1 AND g.status = 'streaming') AS busy,
        (SELECT count(*)::int FROM generations g WHERE g.user_id = $2 AND g.status = 'streaming') AS running,
        EXISTS (SELECT 1 FROM messages m WHERE m.chat_room_id = $1) AS "hasMessages",
        EXISTS (SELECT 1 FROM messages m WHERE m.chat_room_id = $1 AND m.role = 'assistant'
                AND m.status = 'complete' AND m.generation_id IS NOT NULL) AS "hasReply",
        coalesce(u.generations, 0) AS starts,
        coalesce(u.prompt_tokens + u.completion_tokens, 0)::float8 AS "usedToday"
      FROM (SELECT 1) one
      LEFT JOIN usage_days u ON u.user_id = $2 AND u.day = ${TODAY_UTC}
    ), verdict AS MATERIALIZED (
      SELECT s.*, CASE
        WHEN NOT EXISTS (SELECT 1 FROM caller) THEN 'unauthorized'
        WHEN NOT EXISTS (SELECT 1 FROM room) THEN 'not_found'
        WHEN s.busy THEN 'busy'
        WHEN s.running >= $7 THEN 'concurrency'
        WHEN s."usedToday" >= $8::float8 THEN 'daily'
        WHEN $3::text IS NULL AND NOT s."hasMessages" THEN 'no_messages'
      END AS refused
      FROM seen s
    ), usage AS (
      INSERT INTO usage_days AS u (user_id, day, generations)
      SELECT $2, ${TODAY_UTC}, 1 FROM verdict WHERE verdict.refused IS NULL
      ON CONFLICT (user_id, day) DO UPDATE SET generations = u.generations + 1
      WHERE (SELECT v.running - v.starts FROM verdict v) + u.generations < $7
      RETURNING u.user_id
    ), touched AS (
      UPDATE chat_rooms r
      SET updated_at = greatest(${NOW_MS}, r.updated_at + interval '2 milliseconds'),
          message_count = r.message_count + CASE WHEN $3::text IS NULL THEN 1 ELSE 2 END
      FROM usage WHERE r.id = $1 RETURNING r.id, r.updated_at
    ), um AS (
      INSERT INTO messages (chat_room_id, role, content, created_at)
      SELECT touched.id, 'user', $3, touched.updated_at - interval '1 millisecond' FROM touched
      WHERE $3::text IS NOT NULL
      RETURNING *
    ), am AS (
      INSERT INTO messages (chat_room_id, role, content, status, model, generation_id, created_at)
      SELECT touched.id, 'assistant', '', 'streaming',
        coalesce($4, CASE WHEN room.model = ANY($5::text[]) THEN room.model END, $6),
        $9, touched.updated_at
      FROM touched, room
      RETURNING *
    ), g AS (
      INSERT INTO generations (id, chat_room_id, message_id, user_message_id, user_id, model,
                               owner_instance, created_at)
      SELECT $9, am.chat_room_id, am.id, (SELECT id FROM um), $2, am.model, $10, am.created_at
      FROM am
      RETURNING *
    )
    SELECT coalesce(v.refused, CASE WHEN g.id IS NULL THEN 'concurrency' END) AS refused,
      room.title AS "roomTitle", v."hasReply",
      ${GENERATION}, ${MESSAGE('am', 'a')}, ${MESSAGE('um', 'u')}
    FROM verdict v LEFT JOIN room ON true LEFT JOIN g ON true LEFT JOIN am ON true
    LEFT JOIN um ON true`,
  ),

  // The history sent to the model, newest first, roughly cut to $3 characters (PostgreSQL
  // counts code points, JavaScript UTF-16 units: the exact cut is made in code). Failed
  // replies without text are left out: they say nothing.
  context: statement(
    'assistant.context',
    `
    SELECT role, content FROM (
      SELECT m.role, m.content, m.created_at, m.id,
             sum(length(m.content)) OVER (ORDER BY m.created_at DESC, m.id DESC) - length(m.content) AS before
      FROM messages m
      WHERE m.chat_room_id = $1 AND m.id <> $2
        AND NOT (m.role = 'assistant' AND m.status = 'failed' AND m.content = '')
    ) t WHERE t.before <= $3
    ORDER BY t.created_at DESC, t.id DESC`,
  ),

  systemPrompt: statement(
    'assistant.systemPrompt',
    `SELECT system_prompt AS "systemPrompt" FROM chat_rooms WHERE id = $1`,
  ),

  // The deltas not stored yet of every generation this instance runs, in one statement per
  // flush interval: per generation ($1), its text ($2) appended to the reply and its delta
  // lengths ($3, each an int[] literal) to the generation, and a change signal on channel $4
  // (the payload PgPubSub.publish would send), delivered when the text is committed. Only
  // while the generation is still streaming: an id not returned was taken as an orphan by
  // another instance (this one lost its lease), and its runner stops.
  flush: statement(
    'assistant.flush',
    `
    WITH batch AS (
      SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS b(id, text, lengths)
    ), g AS (
      UPDATE generations g SET delta_lengths = g.delta_lengths || b.lengths::int[]
      FROM batch b WHERE g.id = b.id AND g.status = 'streaming'
      RETURNING g.id, g.message_id
    ), m AS (
      UPDATE messages m SET content = m.content || b.text
      FROM g JOIN batch b ON b.id = g.id WHERE m.id = g.message_id
      RETURNING g.id
    )
    SELECT m.id, pg_notify($4, json_build_object('id', m.id)::text) AS signalled FROM m`,
  ),

  // The end, all in one statement (so one transaction): the last text, status, finish
  // reason, usage, the title it gave the room, the room's activity, the day's usage, and the
  // change signal on channel $11 for followers on other instances (sent on commit).
  finish: statement(
    'assistant.finish',
    `
    WITH g AS (
      UPDATE generations g SET status = $2, finish_reason = $3, prompt_tokens = $4,
        completion_tokens = $5, error_code = $6, delta_lengths = g.delta_lengths || $8::int[],
        finished_at = ${NOW_MS},
        title = CASE WHEN (SELECT r.title FROM chat_rooms r WHERE r.id = g.chat_room_id) = $10
                THEN $9 END
      WHERE g.id = $1 AND g.status = 'streaming'
      RETURNING g.*
    ), m AS (
      UPDATE messages m SET content = m.content || $7, status = $2 FROM g
      WHERE m.id = g.message_id RETURNING m.*
    ), r AS (
      UPDATE chat_rooms r SET updated_at = greatest(${NOW_MS}, r.updated_at),
        title = CASE WHEN $9::text IS NOT NULL AND r.title = $10 THEN $9 ELSE r.title END
      FROM g WHERE r.id = g.chat_room_id RETURNING r.title
    ), usage AS (
      INSERT INTO usage_days (user_id, day, prompt_tokens, completion_tokens)
      SELECT g.user_id, ${TODAY_UTC}, $4, $5 FROM g
      ON CONFLICT (user_id, day) DO UPDATE SET
        prompt_tokens = usage_days.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = usage_days.completion_tokens + excluded.completion_tokens
    )
    SELECT ${GENERATION}, ${MESSAGE('m', 'a')}, (SELECT title FROM r) AS "roomTitle",
      pg_notify($11, json_build_object('id', g.id)::text) AS signalled
    FROM g JOIN m ON true`,
  ),

  // A generation with everything its event stream is rebuilt from. Ownership: $2.
  read: statement(
    'assistant.read',
    `
    SELECT ${GENERATION}, g.delta_lengths AS "deltaLengths", g.title, g.user_id AS "userId",
           ${MESSAGE('am', 'a')}, ${MESSAGE('um', 'u')}
    FROM generations g JOIN messages am ON am.id = g.message_id
    LEFT JOIN messages um ON um.id = g.user_message_id
    WHERE g.id = $1 AND g.user_id = $2`,
  ),

  // Generations whose instance died: failed/interrupted, with the text they had stored.
  // SKIP LOCKED: instances sweeping at once do not wait for each other.
  sweepOrphans: statement(
    'assistant.sweepOrphans',
    `
    WITH dead AS (
      SELECT g.id FROM generations g
      WHERE g.status = 'streaming' AND g.owner_instance <> $1 AND NOT ${OWNER_ALIVE}
      FOR UPDATE SKIP LOCKED
    ), g AS (
      UPDATE generations g SET status = 'failed', error_code = 'interrupted', finished_at = ${NOW_MS}
      FROM dead WHERE g.id = dead.id RETURNING g.id, g.message_id
    ), m AS (
      UPDATE messages m SET status = 'failed' FROM g WHERE m.id = g.message_id
    )
    SELECT id FROM g`,
  ),

  // The end of generations of this instance whose runner could not store its own
  // (GenerationRegistry.settle): failed/interrupted with the text already stored. Small and
  // made of nothing the model sent, so that only the database being unreachable stops it.
  abandon: statement(
    'assistant.abandon',
    `
    WITH g AS (
      UPDATE generations g SET status = 'failed', error_code = 'interrupted', finished_at = ${NOW_MS}
      WHERE g.id = ANY($1::uuid[]) AND g.status = 'streaming'
      RETURNING g.id, g.message_id
    ), m AS (
      UPDATE messages m SET status = 'failed' FROM g WHERE m.id = g.message_id
    )
    SELECT g.id, pg_notify($2, json_build_object('id', g.id)::text) AS signalled FROM g`,
  ),

  // Cancel of a generation whose owner is gone: stopped, with its stored text.
  stopOrphan: statement(
    'assistant.stopOrphan',
    `
    WITH g AS (
      UPDATE generations g SET status = 'stopped', finished_at = ${NOW_MS}
      WHERE g.id = $1 AND g.status = 'streaming' AND NOT ${OWNER_ALIVE}
      RETURNING g.id, g.message_id
    )
    UPDATE messages m SET status = 'stopped' FROM g WHERE m.id = g.message_id RETURNING m.id`,
  ),

  usageToday: statement(
    'assistant.usageToday',
    `
    SELECT coalesce(u.prompt_tokens, 0)::float8 AS "promptTokens",
           coalesce(u.completion_tokens, 0)::float8 AS "completionTokens",
           coalesce(u.generations, 0) AS generations
    FROM (SELECT 1) one
    LEFT JOIN usage_days u ON u.user_id = $1 AND u.day = ${TODAY_UTC}`,
  ),
};
