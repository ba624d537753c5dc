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
  // Start, in one transaction (GenerationsService.start): 1. lock the caller's row, which
  // serialises the starts of one user on every instance, so the count below is exact
  // (and proves the caller exists); 2. lock the room and read what the checks need, with a
  // fresh snapshot taken after the lock; 3. write.
  lockCaller: statement(
    'assistant.lockCaller',
    `SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE`,
  ),

  roomForStart: statement(
    'assistant.roomForStart',
    `
    SELECT r.id, r.title, r.model,
      EXISTS (SELECT 1 FROM generations g WHERE g.chat_room_id = r.id AND g.status = 'streaming') AS busy,
      (SELECT count(*)::int FROM generations g WHERE g.user_id = $2 AND g.status = 'streaming') AS running,
      EXISTS (SELECT 1 FROM messages m WHERE m.chat_room_id = r.id) AS "hasMessages",
      EXISTS (SELECT 1 FROM messages m WHERE m.chat_room_id = r.id AND m.role = 'assistant'
              AND m.status = 'complete' AND m.generation_id IS NOT NULL) AS "hasReply",
      coalesce((SELECT u.prompt_tokens + u.completion_tokens FROM usage_days u
                WHERE u.user_id = $2 AND u.day = ${TODAY_UTC}), 0)::float8 AS "usedToday"
    FROM chat_rooms r WHERE r.id = $1 AND r.owner_id = $2
    FOR UPDATE OF r`,
  ),

  // The user message (when $3 is not null) a millisecond before the reply, the reply, the
  // generation, the room's activity and the day's generation count.
  insertGeneration: statement(
    'assistant.insertGeneration',
    `
    WITH room AS (
      UPDATE chat_rooms r
      SET updated_at = greatest(${NOW_MS}, r.updated_at + interval '2 milliseconds'),
          message_count = r.message_count + CASE WHEN $3::text IS NULL THEN 1 ELSE 2 END
      WHERE r.id = $1 RETURNING r.id, r.updated_at
    ), um AS (
      INSERT INTO messages (chat_room_id, role, content, created_at)
      SELECT room.id, 'user', $3, room.updated_at - interval '1 millisecond' FROM room
      WHERE $3::text IS NOT NULL
      RETURNING *
    ), am AS (
      INSERT INTO messages (chat_room_id, role, content, status, model, generation_id, created_at)
      SELECT room.id, 'assistant', '', 'streaming', $4, $5, room.updated_at FROM room
      RETURNING *
    ), g AS (
      INSERT INTO generations (id, chat_room_id, message_id, user_message_id, user_id, model,
                               owner_instance, created_at)
      SELECT $5, room.id, am.id, (SELECT id FROM um), $2, $4, $6, room.updated_at FROM room, am
      RETURNING *
    ), usage AS (
      INSERT INTO usage_days (user_id, day, generations) VALUES ($2, ${TODAY_UTC}, 1)
      ON CONFLICT (user_id, day) DO UPDATE SET generations = usage_days.generations + 1
    )
    SELECT ${GENERATION}, ${MESSAGE('am', 'a')}, ${MESSAGE('um', 'u')}
    FROM g JOIN am ON true LEFT JOIN um ON true`,
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

  // A batch of deltas: appended to the reply, their lengths to the generation. Only while
  // the generation is still streaming: no row back means another instance took it as an
  // orphan (this instance lost its lease), and the runner stops.
  flush: statement(
    'assistant.flush',
    `
    WITH g AS (
      UPDATE generations g SET delta_lengths = g.delta_lengths || $3::int[]
      WHERE g.id = $1 AND g.status = 'streaming' RETURNING g.message_id
    )
    UPDATE messages m SET content = m.content || $2 FROM g WHERE m.id = g.message_id
    RETURNING m.id`,
  ),

  // The end, all in one statement (so one transaction): the last text, status, finish
  // reason, usage, the title it gave the room, the room's activity and the day's usage.
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
    SELECT ${GENERATION}, ${MESSAGE('m', 'a')}, (SELECT title FROM r) AS "roomTitle"
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
