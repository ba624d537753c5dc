import { Injectable } from '@nestjs/common';
import { instanceAlive } from '../database/instance-lease.repository';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement } from '../database/statement';
import type { MessageRole, MessageStatus } from '../chat/entities/message.entity';
import type { ImportFormat } from './formats';
import type { ImportItemStatus } from './entities/import-item.entity';
import type { ImportStatus } from './entities/import.entity';

/** An import as the API shows it (timestamps as ISO strings). */
export interface ImportRow {
  id: string;
  status: Exclude<ImportStatus, 'uploading'>;
  format: ImportFormat;
  created_at: string;
  finished_at: string | null;
  reason: string | null;
  next_index: number;
  imported: number;
  skipped: number;
  failed: number;
}

export interface ImportItemRow {
  index: number;
  sourceId: string | null;
  title: string | null;
  status: ImportItemStatus;
  chatRoomId: string | null;
  reason: string | null;
}

/** An import claimed by this instance, to run. */
export interface ClaimedImport {
  id: string;
  owner_id: string;
  format: ImportFormat;
  byte_size: number;
  next_index: number;
  /** Claims so far, this one included. */
  runs: number;
  created_at: string;
}

/** The room of one conversation. */
export interface RoomHead {
  roomId: string;
  ownerId: string;
  title: string;
  model: string | null;
  systemPrompt: string | null;
  createdAt: string;
  updatedAt: string;
  activeMessageId: string | null;
  importSource: string;
  /** The caller's own room that has the source's id (our export), or null. */
  sameId: string | null;
}

/** The rows of one conversation's room: its messages as parallel arrays (one element each). */
export interface RoomRows extends RoomHead {
  ids: string[];
  parentIds: (string | null)[];
  roles: MessageRole[];
  contents: string[];
  statuses: MessageStatus[];
  models: (string | null)[];
  createdAts: string[];
  onActivePath: boolean[];
  chosenVersions: number[];
  siblingCounts: number[];
}

/** What one conversation became, recorded with the import's progress. */
export type ItemRecord = ImportItemRow & { importId: string; runnerKey: number };

const ACTIVE = `('uploading', 'queued', 'running')`;
const IMPORT_COLUMNS = `i.id, i.status, i.format, i.created_at, i.finished_at, i.reason, i.next_index,
  i.imported, i.skipped, i.failed`;
const iso = { isoTimestamps: true };
/** The background work of imports runs on the pool: never in the way of requests' statements. */
const bulkIso = { isoTimestamps: true, pooled: true };

export const SQL = {
  // A new upload of the caller's, if the session is live and no other import of theirs is
  // uploading, queued or running (nothing: 401 or 429, told apart by the service).
  begin: statement<{ ownerId: string; sessionId: string; runnerKey: number }, { id: string }>(
    'imports.begin',
    (p) => `
      INSERT INTO imports (owner_id, status, runner_key)
      SELECT ${p.ownerId}, 'uploading', ${p.runnerKey}
      WHERE EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
      ON CONFLICT (owner_id) WHERE status IN ${ACTIVE} DO NOTHING
      RETURNING id`,
  ),

  // Uploads whose instance died before they were stored whole: they would block their owner.
  dropDeadUploads: statement<{ runnerKey: number }, { id: string }>(
    'imports.dropDeadUploads',
    (p) => `
      DELETE FROM imports i
      WHERE i.status = 'uploading' AND i.runner_key <> ${p.runnerKey}
        AND NOT ${instanceAlive('i.runner_key')}
      RETURNING i.id`,
    { pooled: true },
  ),

  chunk: statement<{ importId: string; seq: number; data: Buffer }, never>(
    'imports.chunk',
    (p) =>
      `INSERT INTO import_chunks (import_id, seq, data) VALUES (${p.importId}, ${p.seq}, ${p.data})`,
    { pooled: true },
  ),

  // The upload is whole: the import waits for an instance to run it.
  queue: statement<{ importId: string; format: string; byteSize: number }, ImportRow>(
    'imports.queue',
    (p) => `
      UPDATE imports i SET status = 'queued', format = ${p.format}, byte_size = ${p.byteSize}, runner_key = NULL
      WHERE i.id = ${p.importId} AND i.status = 'uploading'
      RETURNING ${IMPORT_COLUMNS}`,
    iso,
  ),

  discard: statement<{ importId: string }, never>(
    'imports.discard',
    (p) => `DELETE FROM imports WHERE id = ${p.importId} AND status = 'uploading'`,
  ),

  // `length` bytes of chunk `seq` from `offset` (0-based): substring of an EXTERNAL bytea reads
  // only the TOAST slices it covers.
  read: statement<
    { importId: string; seq: number; offset: number; length: number },
    { data: Buffer }
  >(
    'imports.read',
    (p) => `
      SELECT substring(c.data FROM ${p.offset}::int + 1 FOR ${p.length}::int) AS data
      FROM import_chunks c WHERE c.import_id = ${p.importId} AND c.seq = ${p.seq}`,
    { pooled: true },
  ),

  // The oldest import nobody runs: queued, or running on an instance that died (or on this
  // one before it restarted under another key). SKIP LOCKED: instances claiming together
  // take different imports.
  claim: statement<{ runnerKey: number }, ClaimedImport>(
    'imports.claim',
    (p) => `
      UPDATE imports i SET status = 'running', runner_key = ${p.runnerKey}, runs = i.runs + 1
      WHERE i.id = (
        SELECT c.id FROM imports c
        WHERE c.status IN ('queued', 'running')
          AND (c.status = 'queued' OR c.runner_key IS NULL OR NOT ${instanceAlive('c.runner_key')})
        ORDER BY c.created_at, c.id
        LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING i.id, i.owner_id, i.format, i.byte_size::float8 AS byte_size, i.next_index, i.runs,
        i.created_at`,
    bulkIso,
  ),

  // The import's room for one conversation, unless its owner has it already (imported from the
  // same source, or their own room of that id): then that room, created false.
  room: statement<RoomHead & { messageCount: number }, { id: string; created: boolean }>(
    'imports.room',
    (p) => `
      WITH existing AS (
        SELECT r.id FROM chat_rooms r
        WHERE r.owner_id = ${p.ownerId}
          AND (r.import_source = ${p.importSource} OR r.id = ${p.sameId}::uuid)
        LIMIT 1
      ), created AS (
        INSERT INTO chat_rooms (id, owner_id, title, model, system_prompt, created_at, updated_at,
                                message_count, version, active_message_id, import_source)
        SELECT ${p.roomId}, ${p.ownerId}, ${p.title}, ${p.model}, ${p.systemPrompt},
               ${p.createdAt}::timestamptz, ${p.updatedAt}::timestamptz, ${p.messageCount}, 1,
               ${p.activeMessageId}::uuid, ${p.importSource}
        WHERE NOT EXISTS (SELECT FROM existing)
        ON CONFLICT (owner_id, import_source) WHERE import_source IS NOT NULL DO NOTHING
        RETURNING id
      )
      SELECT id, true AS created FROM created
      UNION ALL SELECT id, false AS created FROM existing`,
  ),

  // Every message of a new room, in one statement: parents come before their children in the
  // arrays, and the foreign keys are checked at the end of the statement.
  messages: statement<Omit<RoomRows, keyof RoomHead> & Pick<RoomHead, 'roomId' | 'ownerId'>, never>(
    'imports.messages',
    (p) => `
      INSERT INTO messages (id, chat_room_id, owner_id, parent_id, role, content, status, model,
                            created_at, on_active_path, chosen_version, sibling_count)
      SELECT m.id, ${p.roomId}, ${p.ownerId}, m.parent_id, m.role, m.content, m.status, m.model,
             m.created_at, m.on_active_path, m.chosen_version, m.sibling_count
      FROM unnest(${p.ids}::uuid[], ${p.parentIds}::uuid[], ${p.roles}::text[], ${p.contents}::text[],
                  ${p.statuses}::text[], ${p.models}::text[], ${p.createdAts}::timestamptz[],
                  ${p.onActivePath}::bool[], ${p.chosenVersions}::int[], ${p.siblingCounts}::int[])
        AS m(id, parent_id, role, content, status, model, created_at, on_active_path,
             chosen_version, sibling_count)`,
    { pooled: true },
  ),

  // One conversation's outcome and the import's progress, only while this instance still runs
  // the import and the conversation is the next one: nothing means another instance took the
  // import over (its transaction is rolled back).
  record: statement<ItemRecord, { idx: number }>(
    'imports.record',
    (p) => `
      WITH progress AS (
        UPDATE imports i SET next_index = i.next_index + 1,
          imported = i.imported + (${p.status} = 'imported')::int,
          skipped = i.skipped + (${p.status} = 'skipped')::int,
          failed = i.failed + (${p.status} = 'failed')::int
        WHERE i.id = ${p.importId} AND i.status = 'running' AND i.runner_key = ${p.runnerKey}
          AND i.next_index = ${p.index}
        RETURNING i.id
      )
      INSERT INTO import_items (import_id, idx, source_id, title, status, chat_room_id, reason)
      SELECT id, ${p.index}, ${p.sourceId}, ${p.title}, ${p.status}, ${p.chatRoomId}::uuid, ${p.reason}
      FROM progress
      RETURNING idx`,
    { pooled: true },
  ),

  // The end of a run: complete, or failed with why; the stored body goes.
  finish: statement<
    { importId: string; runnerKey: number; status: 'complete' | 'failed'; reason: string | null },
    { id: string }
  >(
    'imports.finish',
    (p) => `
      WITH finished AS (
        UPDATE imports i SET status = ${p.status}, reason = ${p.reason}, finished_at = now(), runner_key = NULL
        WHERE i.id = ${p.importId} AND i.status = 'running' AND i.runner_key = ${p.runnerKey}
        RETURNING i.id
      ), dropped AS (
        DELETE FROM import_chunks c USING finished f WHERE c.import_id = f.id
      )
      SELECT id FROM finished`,
    { pooled: true },
  ),

  // A run stopped by this instance's shutdown: queued again, for any instance.
  release: statement<{ importId: string; runnerKey: number }, never>(
    'imports.release',
    (p) => `
      UPDATE imports SET status = 'queued', runner_key = NULL
      WHERE id = ${p.importId} AND status = 'running' AND runner_key = ${p.runnerKey}`,
    { pooled: true },
  ),

  // One import of the caller's with a page of its items, if the session is live.
  one: statement<
    {
      importId: string;
      ownerId: string;
      sessionId: string;
      itemsLimit: number;
      itemsOffset: number;
    },
    ImportRow & { items: ImportItemRow[] }
  >(
    'imports.one',
    (p) => `
      SELECT ${IMPORT_COLUMNS},
        (SELECT coalesce(json_agg(json_build_object('index', t.idx, 'sourceId', t.source_id,
                   'title', t.title, 'status', t.status, 'chatRoomId', t.chat_room_id,
                   'reason', t.reason) ORDER BY t.idx), '[]'::json)
         FROM (SELECT * FROM import_items t WHERE t.import_id = i.id
               ORDER BY t.idx LIMIT ${p.itemsLimit} OFFSET ${p.itemsOffset}) t) AS items
      FROM imports i
      WHERE i.id = ${p.importId} AND i.owner_id = ${p.ownerId} AND i.status <> 'uploading'
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))`,
    iso,
  ),

  // A page of the caller's imports, newest first, each row with how many there are (one row
  // of nulls but `total` when the page is empty); no row: the session is not live.
  page: statement<
    { ownerId: string; sessionId: string; limit: number; offset: number },
    { total: number } & (ImportRow | { [K in keyof ImportRow]: null })
  >(
    'imports.page',
    (p) => `
      SELECT t.total, i.* FROM
        (SELECT count(*)::int AS total FROM imports i WHERE i.owner_id = ${p.ownerId} AND i.status <> 'uploading') t
        LEFT JOIN LATERAL (
          SELECT ${IMPORT_COLUMNS} FROM imports i
          WHERE i.owner_id = ${p.ownerId} AND i.status <> 'uploading'
          ORDER BY i.created_at DESC, i.id DESC LIMIT ${p.limit} OFFSET ${p.offset}) i ON true
      WHERE EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
      ORDER BY i.created_at DESC, i.id DESC`,
    iso,
  ),
};

@Injectable()
export class ImportsRepository {
  constructor(private readonly sql: Sql) {}

  /** The new upload's id; null when the caller has an import going, or the session ended. */
  async begin(params: {
    ownerId: string;
    sessionId: string;
    runnerKey: number;
  }): Promise<string | null> {
    const [row] = await this.sql.rows(SQL.begin, params);
    return row?.id ?? null;
  }

  async dropDeadUploads(runnerKey: number): Promise<number> {
    return (await this.sql.rows(SQL.dropDeadUploads, { runnerKey })).length;
  }

  async chunk(params: { importId: string; seq: number; data: Buffer }): Promise<void> {
    await this.sql.rows(SQL.chunk, params);
  }

  async queue(params: {
    importId: string;
    format: string;
    byteSize: number;
  }): Promise<ImportRow | null> {
    const [row] = await this.sql.rows(SQL.queue, params);
    return row ?? null;
  }

  async discard(importId: string): Promise<void> {
    await this.sql.rows(SQL.discard, { importId });
  }

  async read(params: {
    importId: string;
    seq: number;
    offset: number;
    length: number;
  }): Promise<Buffer | null> {
    const [row] = await this.sql.rows(SQL.read, params);
    return row?.data ?? null;
  }

  async claim(runnerKey: number): Promise<ClaimedImport | null> {
    const [row] = await this.sql.rows(SQL.claim, { runnerKey });
    return row ?? null;
  }

  /**
   * The room for a conversation, created or found; null when another transaction inserted the
   * same source meanwhile (not yet visible): the conversation is then recorded as skipped.
   */
  async room(tx: SqlRunner, rows: RoomRows): Promise<{ id: string; created: boolean } | null> {
    const [row] = await tx.rows(SQL.room, { ...rows, messageCount: rows.ids.length });
    return row ?? null;
  }

  async messages(tx: SqlRunner, rows: RoomRows): Promise<void> {
    if (rows.ids.length > 0) await tx.rows(SQL.messages, rows);
  }

  /** False when this instance no longer runs the import. */
  async record(runner: SqlRunner, item: ItemRecord): Promise<boolean> {
    return (await runner.rows(SQL.record, item)).length > 0;
  }

  /** `record` in a statement of its own (a conversation that creates nothing). */
  recordAlone(item: ItemRecord): Promise<boolean> {
    return this.record(this.sql, item);
  }

  async finish(params: {
    importId: string;
    runnerKey: number;
    status: 'complete' | 'failed';
    reason: string | null;
  }): Promise<boolean> {
    return (await this.sql.rows(SQL.finish, params)).length > 0;
  }

  async release(params: { importId: string; runnerKey: number }): Promise<void> {
    await this.sql.rows(SQL.release, params);
  }

  async one(params: {
    importId: string;
    ownerId: string;
    sessionId: string;
    itemsLimit: number;
    itemsOffset: number;
  }) {
    const [row] = await this.sql.rows(SQL.one, params);
    return row ?? null;
  }

  /** The page's rows; none when the session is not live. */
  page(params: { ownerId: string; sessionId: string; limit: number; offset: number }) {
    return this.sql.rows(SQL.page, params);
  }
}
