import { Injectable } from '@nestjs/common';
import type { MessageRow } from '../chat/message.mapper';
import { Sql } from '../database/sql.service';
import { statement, type Statement } from '../database/statement';

/** At most this many terms narrow the search through the trigram index; all of them filter. */
export const MAX_INDEXED_TERMS = 3;

/** The first key of the advisory locks that count one user's running searches ("SRCH"). */
export const SEARCH_LOCK_CLASS = 0x53524348;

export interface HitsParams {
  ownerId: string;
  /** The caller's session: nothing is read unless it is live. */
  sessionId: string;
  /** The page starts below this (createdAt, id), newest first. */
  afterCreatedAt: string;
  afterId: string;
  take: number;
  /** Most bytes of message content in the page (fewer hits when they are large, at least one). */
  budget: number;
  /** How many of the caller's searches may run at once. */
  places: number;
  /** LIKE patterns of the terms that do not narrow through the index (`ILIKE ALL`). */
  others: string[];
  /** LIKE patterns of the terms that do (at most MAX_INDEXED_TERMS, longest first). */
  indexed0?: string;
  indexed1?: string;
  indexed2?: string;
}

const INDEXED = ['indexed0', 'indexed1', 'indexed2'] as const;

type HitRow = MessageRow & { room_title: string; fetched: number };
/** `slot` false: every search place of the caller's was taken, nothing was read. */
type HitsRow = { slot: boolean } & ({ id: null } | HitRow);

/**
 * One statement per search, whatever the terms, the page or the data:
 * - the caller's session proves itself live (live_session; no row: 401), and a LEFT JOIN
 *   LATERAL gives one all-null row when nothing matches;
 * - one of the caller's `places` (a transaction-level advisory lock, released when the
 *   statement ends, whichever instance runs it), or no hit is read (`slot` false);
 * - only the caller's messages (`m.owner_id`, the leading column of every index used), newest
 *   first, keyset-paged on (created_at, id), `take` rows (a page and one more to tell whether
 *   more exist); each hit's room title is looked up by primary key, for the page only;
 * - the page carries at most `budget` bytes of message content: `fetched` tells a page cut short;
 * - the indexed terms as `content ILIKE` conditions the GIN index ix_messages_owner_content_trgm
 *   (owner_id, content gin_trgm_ops) can answer, the others as `ILIKE ALL` (true when empty).
 *   ILIKE folds both sides with the database's lower(), so "É" finds "é" in a UTF-8 locale.
 * Planned for each execution (`planEachTime`): with the actual patterns, the column statistics
 * tell PostgreSQL how common the terms are, and it picks
 * - for a rare term: a bitmap scan of the GIN index, which holds the caller's entries under
 *   their owner_id, then the newest `take` of those candidates (cost: the caller's matches);
 * - for a common term, or terms without trigrams (`서울`, `a`, `😀`): the caller's messages
 *   newest first over ix_messages_owner_created, stopping at the page's last hit (cost: the
 *   caller's messages newer than it; for a term they never wrote, all of the caller's messages).
 * Either way, other users' messages are never read.
 * On a pooled connection, through Sql.heavyRows(): its cost varies with the terms and the
 * caller's history, and it must not hold up the small statements queued on a pipelined one.
 */
function hitsStatement(indexed: number): Statement<HitsParams, HitsRow> {
  return statement<HitsParams, HitsRow>(
    `search.hits${indexed}`,
    (p) => {
      // Only the terms this variant uses become parameters.
      const terms = INDEXED.slice(0, indexed).map((name) => p[name]);
      return `
        SELECT h.*, g.slot
        FROM (SELECT EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId})) AS live) s
        CROSS JOIN LATERAL (
          SELECT EXISTS (
            SELECT 1 FROM generate_series(1, ${p.places}::int) AS place
            WHERE pg_try_advisory_xact_lock(${SEARCH_LOCK_CLASS},
                                            hashtext(${p.ownerId}::uuid::text || '/' || place))
          ) AS slot
        ) g
        LEFT JOIN LATERAL (
          SELECT q.*, (SELECT r.title FROM chat_rooms r WHERE r.id = q.chat_room_id) AS room_title
          FROM (
            SELECT q.*, count(*) OVER ()::int AS fetched,
                   sum(octet_length(q.content)) OVER (
                     ORDER BY q.created_at DESC, q.id DESC ROWS UNBOUNDED PRECEDING
                   ) - octet_length(q.content) AS before
            FROM (
              SELECT m.id, m.chat_room_id, m.role, m.content, m.created_at, m.status, m.model,
                     m.generation_id, m.parent_id
              FROM messages m
              WHERE g.slot AND m.owner_id = ${p.ownerId}
                ${terms.map((term) => `AND m.content ILIKE ${term}`).join(' ')}
                AND m.content ILIKE ALL (${p.others}::text[])
                AND (m.created_at, m.id) < (${p.afterCreatedAt}::timestamptz, ${p.afterId}::uuid)
              ORDER BY m.created_at DESC, m.id DESC
              LIMIT ${p.take}
            ) q
          ) q
          WHERE q.before < ${p.budget}
        ) h ON true
        WHERE s.live
        ORDER BY h.created_at DESC, h.id DESC`;
    },
    { isoTimestamps: true, planEachTime: true, pooled: true },
  );
}

export const SQL = {
  hits: Array.from({ length: MAX_INDEXED_TERMS + 1 }, (_, indexed) => hitsStatement(indexed)),

  /**
   * Whether the database's LC_CTYPE makes pg_trgm and lower() see letters beyond ASCII: in
   * "C"/"POSIX" (or SQL_ASCII) they do not, and search loses its index for such words and its
   * case folding for accented letters.
   */
  localeCheck: statement<
    Record<never, never>,
    { ok: boolean; ctype: string; encoding: string; name: string }
  >(
    'search.localeCheck',
    () => `
      SELECT cardinality(show_trgm('서울에서')) > 0 AND cardinality(show_trgm('ひらがな')) > 0
               AND cardinality(show_trgm('漢字漢字')) > 0 AND lower('ÉCOLE') = 'école' AS ok,
             d.datctype AS ctype, pg_encoding_to_char(d.encoding) AS encoding, d.datname AS name
      FROM pg_database d WHERE d.datname = current_database()`,
  ),
};

/** The statement a page of hits runs with `indexed` narrowing terms (the bench EXPLAINs it). */
export const hitsStatementFor = (params: HitsParams) =>
  SQL.hits[INDEXED.filter((name) => params[name] != null).length];

@Injectable()
export class SearchRepository {
  constructor(private readonly sql: Sql) {}

  /**
   * A page of the owner's hits; 'busy' when every search place of the owner's was taken, null
   * when the caller's session is not live.
   */
  async hits(params: HitsParams): Promise<HitRow[] | 'busy' | null> {
    const rows = await this.sql.heavyRows(params.ownerId, hitsStatementFor(params), params);
    if (rows.length === 0) return null;
    if (!rows[0].slot) return 'busy';
    return rows.filter((row): row is HitsRow & HitRow => row.id !== null);
  }

  async localeCheck(): Promise<{ ok: boolean; ctype: string; encoding: string; name: string }> {
    const [row] = await this.sql.rows(SQL.localeCheck, {});
    return row;
  }
}
