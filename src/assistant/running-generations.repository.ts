import { Injectable } from '@nestjs/common';
import { messageColumns, type MessageRow } from '../chat/message.mapper';
import type { MessageStatus } from '../chat/entities/message.entity';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';
import { GENERATION_CHANGED } from './assistant-channels';
import type { GenerationErrorCode } from './entities/generation.entity';
import type { GenerationRow } from './generation.mapper';
import { NOW_MS, TODAY_UTC } from './generations.repository';
import { instanceAlive } from '../database/instance-lease.repository';

// The writes to generations still streaming: their text, their end, and the ends written for
// them when their runner cannot write its own. Each is one statement (so one transaction), and
// each touches a generation only while it is still streaming.

const OWNER_ALIVE = instanceAlive('g.owner_instance');

/** The deltas of one generation not stored yet. */
export interface PendingText {
  id: string;
  text: string;
  /** Each delta's length, in order. */
  lengths: number[];
}

export interface FinishParams {
  generationId: string;
  status: Exclude<MessageStatus, 'streaming'>;
  finishReason: string | null;
  promptTokens: number;
  completionTokens: number;
  errorCode: GenerationErrorCode | null;
  /** The text not flushed yet, and its deltas' lengths. */
  text: string;
  lengths: number[];
  /** The title the reply gives its room, if the room still has `defaultTitle`. */
  title: string | null;
  defaultTitle: string;
}

/** A generation as its end stored it, with its reply and the room's title after it. */
export interface FinishedGeneration {
  generation: GenerationRow;
  reply: MessageRow;
  roomTitle: string | null;
}

type FinishRow = MessageRow & { generation: GenerationRow; room_title: string | null };

/** A generation's end (CTE `g`) is a change of its room: its version grows. */
const ROOM_ENDED = `UPDATE chat_rooms r SET version = r.version + 1 FROM g WHERE r.id = g.chat_room_id`;

/**
 * `rooms`: the rooms of the generations that `where` keeps (alias `g`), row-locked before
 * anything else, so an end takes its locks in the order every write of a room's tree does
 * (the room, then its messages): the two never wait for each other in a cycle. The CTE `g`
 * that ends them must keep only `g.chat_room_id IN (SELECT id FROM rooms)`.
 */
const lockRooms = (where: string, skipLocked = false) => `
    rooms AS MATERIALIZED (
      SELECT r.id FROM chat_rooms r
      WHERE r.id IN (SELECT g.chat_room_id FROM generations g WHERE ${where})
      FOR UPDATE${skipLocked ? ' SKIP LOCKED' : ''}
    )`;

const SQL = {
  // The deltas not stored yet of every generation this instance runs, in one statement per
  // flush interval: per generation, its text appended to the reply and its delta lengths (each
  // an int[] literal) to the generation, and a change signal, delivered when the text is
  // committed. Only while the generation is still streaming: an id not returned was taken as
  // an orphan by another instance (this one lost its lease), and its runner stops.
  flush: statement<
    { ids: string[]; texts: string[]; lengths: string[]; channel: string },
    { id: string }
  >(
    'generations.flush',
    (p) => `
    WITH batch AS (
      SELECT * FROM unnest(${p.ids}::uuid[], ${p.texts}::text[], ${p.lengths}::text[]) AS b(id, text, lengths)
    ), g AS (
      UPDATE generations g SET delta_lengths = g.delta_lengths || b.lengths::int[]
      FROM batch b WHERE g.id = b.id AND g.status = 'streaming'
      RETURNING g.id, g.message_id
    ), m AS (
      UPDATE messages m SET content = m.content || b.text
      FROM g JOIN batch b ON b.id = g.id WHERE m.id = g.message_id
      RETURNING g.id
    )
    SELECT m.id, pg_notify(${p.channel}, json_build_object('id', m.id)::text) AS signalled FROM m`,
  ),

  // The end, all in one statement (so one transaction): the last text, status, finish
  // reason, usage, the title it gave the room, the room's activity and version, the day's
  // usage, and the change signal for followers on other instances (sent on commit).
  finish: statement<FinishParams & { channel: string }, FinishRow>(
    'generations.finish',
    (p) => `
    WITH ${lockRooms(`g.id = ${p.generationId} AND g.status = 'streaming'`)},
    g AS (
      UPDATE generations g SET status = ${p.status}, finish_reason = ${p.finishReason},
        prompt_tokens = ${p.promptTokens}, completion_tokens = ${p.completionTokens},
        error_code = ${p.errorCode}, delta_lengths = g.delta_lengths || ${p.lengths}::int[],
        finished_at = ${NOW_MS},
        title = CASE WHEN (SELECT r.title FROM chat_rooms r WHERE r.id = g.chat_room_id) = ${p.defaultTitle}
                THEN ${p.title} END
      WHERE g.id = ${p.generationId} AND g.status = 'streaming'
        AND g.chat_room_id IN (SELECT id FROM rooms)
      RETURNING g.*
    ), m AS (
      UPDATE messages m SET content = m.content || ${p.text}, status = ${p.status} FROM g
      WHERE m.id = g.message_id RETURNING ${messageColumns('m')}
    ), r AS (
      UPDATE chat_rooms r SET updated_at = greatest(${NOW_MS}, r.updated_at), version = r.version + 1,
        title = CASE WHEN ${p.title}::text IS NOT NULL AND r.title = ${p.defaultTitle} THEN ${p.title} ELSE r.title END
      FROM g WHERE r.id = g.chat_room_id RETURNING r.title
    ), usage AS (
      INSERT INTO usage_days (user_id, day, prompt_tokens, completion_tokens)
      SELECT g.user_id, ${TODAY_UTC}, ${p.promptTokens}, ${p.completionTokens} FROM g
      ON CONFLICT (user_id, day) DO UPDATE SET
        prompt_tokens = usage_days.prompt_tokens + excluded.prompt_tokens,
        completion_tokens = usage_days.completion_tokens + excluded.completion_tokens
    )
    SELECT m.*, row_to_json(g) AS generation, (SELECT title FROM r) AS room_title,
      pg_notify(${p.channel}, json_build_object('id', g.id)::text) AS signalled
    FROM g JOIN m ON true`,
    { isoTimestamps: true },
  ),

  // The end of generations of this instance whose runner could not store its own: failed/
  // interrupted with the text already stored. Small and made of nothing the model sent, so
  // that only the database being unreachable stops it.
  abandon: statement<{ ids: string[]; channel: string }, { id: string }>(
    'generations.abandon',
    (p) => `
    WITH ${lockRooms(`g.id = ANY(${p.ids}::uuid[]) AND g.status = 'streaming'`)},
    g AS (
      UPDATE generations g SET status = 'failed', error_code = 'interrupted', finished_at = ${NOW_MS}
      WHERE g.id = ANY(${p.ids}::uuid[]) AND g.status = 'streaming'
        AND g.chat_room_id IN (SELECT id FROM rooms)
      RETURNING g.id, g.message_id, g.chat_room_id
    ), m AS (
      UPDATE messages m SET status = 'failed' FROM g WHERE m.id = g.message_id
    ), r AS (${ROOM_ENDED})
    SELECT g.id, pg_notify(${p.channel}, json_build_object('id', g.id)::text) AS signalled FROM g`,
  ),

  // Generations whose instance died: failed/interrupted, with the text they had stored.
  // SKIP LOCKED (their rooms): instances sweeping at once do not wait for each other, nor for a
  // room being written; what is skipped is swept next time.
  sweepOrphans: statement<{ instanceKey: number }, { id: string }>(
    'generations.sweepOrphans',
    (p) => `
    WITH ${lockRooms(
      `g.status = 'streaming' AND g.owner_instance <> ${p.instanceKey} AND NOT ${OWNER_ALIVE}`,
      true,
    )},
    g AS (
      UPDATE generations g SET status = 'failed', error_code = 'interrupted', finished_at = ${NOW_MS}
      WHERE g.status = 'streaming' AND g.owner_instance <> ${p.instanceKey} AND NOT ${OWNER_ALIVE}
        AND g.chat_room_id IN (SELECT id FROM rooms)
      RETURNING g.id, g.message_id, g.chat_room_id
    ), m AS (
      UPDATE messages m SET status = 'failed' FROM g WHERE m.id = g.message_id
    ), r AS (${ROOM_ENDED})
    SELECT id FROM g`,
  ),

  // Cancel of a generation whose owner is gone: stopped, with its stored text.
  stopOrphan: statement<{ generationId: string }, { id: string }>(
    'generations.stopOrphan',
    (p) => `
    WITH ${lockRooms(`g.id = ${p.generationId} AND g.status = 'streaming'`)},
    g AS (
      UPDATE generations g SET status = 'stopped', finished_at = ${NOW_MS}
      WHERE g.id = ${p.generationId} AND g.status = 'streaming' AND NOT ${OWNER_ALIVE}
        AND g.chat_room_id IN (SELECT id FROM rooms)
      RETURNING g.id, g.message_id, g.chat_room_id
    ), r AS (${ROOM_ENDED})
    UPDATE messages m SET status = 'stopped' FROM g WHERE m.id = g.message_id RETURNING m.id`,
  ),
};

/** The writes to streaming generations; each one signals GENERATION_CHANGED where followers need it. */
@Injectable()
export class RunningGenerationsRepository {
  constructor(private readonly sql: Sql) {}

  /** Stores the pending text of several generations; returns the ids still streaming. */
  async flush(batch: PendingText[]): Promise<Set<string>> {
    const rows = await this.sql.rows(SQL.flush, {
      ids: batch.map((p) => p.id),
      texts: batch.map((p) => p.text),
      lengths: batch.map((p) => `{${p.lengths.join(',')}}`),
      channel: GENERATION_CHANGED.name,
    });
    return new Set(rows.map((row) => row.id));
  }

  /** The end of a generation; null when it was no longer streaming (taken as an orphan). */
  async finish(params: FinishParams): Promise<FinishedGeneration | null> {
    const [row] = await this.sql.rows(SQL.finish, { ...params, channel: GENERATION_CHANGED.name });
    if (!row) return null;
    const { generation, room_title: roomTitle, ...reply } = row;
    return { generation, reply, roomTitle };
  }

  /** Ends these generations as failed/interrupted; returns those that were still streaming. */
  async abandon(params: { ids: string[] }): Promise<string[]> {
    const rows = await this.sql.rows(SQL.abandon, { ...params, channel: GENERATION_CHANGED.name });
    return rows.map((row) => row.id);
  }

  /** Ends the streaming generations of dead instances (not `instanceKey`'s); returns their ids. */
  async sweepOrphans(params: { instanceKey: number }): Promise<string[]> {
    const rows = await this.sql.rows(SQL.sweepOrphans, params);
    return rows.map((row) => row.id);
  }

  /** Stops the generation if it is streaming and its instance is dead. */
  async stopOrphan(params: { generationId: string }): Promise<void> {
    await this.sql.rows(SQL.stopOrphan, params);
  }
}
