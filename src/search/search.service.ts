import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  UnauthorizedException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ANSWER_CONTENT_BYTES, MESSAGE } from '../chat/chat-rooms.service';
import type { AppConfig } from '../config/configuration';
import { MessageResponseDto } from '../chat/dto/message-response.dto';
import { containsPattern } from '../common/like-pattern';
import { Sql, LegacyStatement, statement as sqlStatement } from '../database/sql.service';
import { SearchQueryDto } from './dto/search-query.dto';
import { SearchPageDto } from './dto/search-response.dto';
import { decodeSearchCursor, encodeSearchCursor } from './search-cursor';
import { hasTrigrams, parseSearchTerms } from './search-terms';
import { buildSnippet } from './snippet';

/** At most this many terms narrow the search through the trigram index; all of them filter. */
export const MAX_INDEXED_TERMS = 3;

/** The first key of the advisory locks that count one user's running searches ("SRCH"). */
export const SEARCH_LOCK_CLASS = 0x53524348;

/**
 * One of the caller's $6 search places, taken for the statement (a transaction-level advisory
 * lock, released when the statement ends, whichever instance runs it); false when all are taken.
 * EXISTS stops at the first place it gets, so a search holds one.
 */
const SEARCH_SLOT = `EXISTS (
  SELECT 1 FROM generate_series(1, $6::int) AS place
  WHERE pg_try_advisory_xact_lock(${SEARCH_LOCK_CLASS}, hashtext($1::uuid::text || '/' || place))
)`;

/** The first page starts above every (created_at, id): no separate statement without a cursor. */
const FIRST_PAGE = ['infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff'] as const;

/**
 * One statement per search, whatever the terms, the page or the data:
 * - `users u ... WHERE u.id = $1` proves the caller still exists (no row: 401), and a
 *   LEFT JOIN LATERAL gives one all-null row when nothing matches (see CallerCheckedByQuery);
 * - only the caller's messages (`m.owner_id = $1`, the leading column of every index used),
 *   newest first, keyset-paged on (created_at, id) < ($2, $3), $4 rows (a page and one more
 *   to tell whether more exist); each hit's room title is looked up by primary key, for the
 *   page only;
 * - the page carries at most ANSWER_CONTENT_BYTES of message content (fewer hits when they are
 *   large, at least one): `fetched` tells a page cut short;
 * - one of the caller's SEARCH_MAX_CONCURRENT_PER_USER places ($6, see SEARCH_SLOT), or no
 *   hit is read and the caller gets 429 (`slot` false);
 * - $7… are the longest terms with trigrams (at most MAX_INDEXED_TERMS), as `content ILIKE`
 *   conditions the GIN index ix_messages_owner_content_trgm (owner_id, content gin_trgm_ops)
 *   can answer; $5 is the array of the other terms' patterns (`ILIKE ALL`, true when empty).
 *   ILIKE folds both sides with the database's lower(), so "É" finds "é" in a UTF-8 locale.
 * Planned for each execution (`planEachTime`): with the actual patterns, the column statistics
 * tell PostgreSQL how common the terms are, and it picks
 * - for a rare term: a bitmap scan of the GIN index, which holds the caller's entries under
 *   their owner_id, then the newest $4 of those candidates (cost: the caller's matches);
 * - for a common term, or terms without trigrams (`서울`, `a`, `😀`): the caller's messages
 *   newest first over ix_messages_owner_created, stopping at the page's last hit (cost: the
 *   caller's messages newer than it; for a term they never wrote, all of the caller's messages).
 * Either way, other users' messages are never read. A deleted room's messages are gone with it
 * (ON DELETE CASCADE).
 * On a pooled connection, through Sql.heavyRows() (at most DB_HEAVY_CONNECTIONS at once per
 * process): taking from 1 ms to 100 ms by the terms and the caller's
 * history, it must not hold up the small statements queued on a pipelined connection (p99 of a
 * rare term at 32 connections: 112 ms pipelined, 45 ms pooled, `npm run bench -- --search
 * --quick`).
 */
function hitsStatement(indexed: number): LegacyStatement {
  const narrowing = Array.from({ length: indexed }, (_, i) => `AND m.content ILIKE $${i + 7}`);
  return sqlStatement(
    `search.hits${indexed}`,
    `
    SELECT h.*, g.slot FROM users u
    CROSS JOIN LATERAL (SELECT ${SEARCH_SLOT} AS slot) g
    LEFT JOIN LATERAL (
      SELECT p.*, (SELECT r.title FROM chat_rooms r WHERE r.id = p."chatRoomId") AS "roomTitle"
      FROM (
        SELECT q.*, count(*) OVER ()::int AS fetched,
               sum(octet_length(q.content)) OVER (
                 ORDER BY q."createdAt" DESC, q.id DESC ROWS UNBOUNDED PRECEDING
               ) - octet_length(q.content) AS before
        FROM (
          SELECT ${MESSAGE} FROM messages m
          WHERE g.slot AND m.owner_id = $1
            ${narrowing.join(' ')}
            AND m.content ILIKE ALL ($5::text[])
            AND (m.created_at, m.id) < ($2::timestamptz, $3::uuid)
          ORDER BY m.created_at DESC, m.id DESC
          LIMIT $4
        ) q
      ) p
      WHERE p.before < ${ANSWER_CONTENT_BYTES}
    ) h ON true
    WHERE u.id = $1
    ORDER BY h."createdAt" DESC, h.id DESC`,
    { isoTimestamps: true, planEachTime: true, pooled: true },
  );
}

/** Exported for the query-budget test and the bench's EXPLAIN: the statements search runs. */
export const SQL = {
  hits: Array.from({ length: MAX_INDEXED_TERMS + 1 }, (_, indexed) => hitsStatement(indexed)),

  /**
   * Whether the database's LC_CTYPE makes pg_trgm and lower() see letters beyond ASCII: in
   * "C"/"POSIX" (or SQL_ASCII) they do not, and search loses its index for such words and its
   * case folding for accented letters.
   */
  localeCheck: sqlStatement(
    'search.localeCheck',
    `
    SELECT cardinality(show_trgm('서울에서')) > 0 AND cardinality(show_trgm('ひらがな')) > 0
             AND cardinality(show_trgm('漢字漢字')) > 0 AND lower('ÉCOLE') = 'école' AS ok,
           d.datctype AS ctype, pg_encoding_to_char(d.encoding) AS encoding, d.datname AS name
    FROM pg_database d WHERE d.datname = current_database()`,
  ),
};

/**
 * The statement and parameters of one page: `take` hits of the caller's after `after`
 * ((createdAt, id), newest first). Exported for the bench, which has PostgreSQL EXPLAIN it.
 */
export function hitsQuery(
  ownerId: string,
  terms: string[],
  take: number,
  after: readonly [string, string] = FIRST_PAGE,
  places = 1_000_000,
): { statement: LegacyStatement; values: unknown[] } {
  const indexed = terms
    .filter(hasTrigrams)
    .sort((a, b) => b.length - a.length)
    .slice(0, MAX_INDEXED_TERMS);
  const others = terms.filter((term) => !indexed.includes(term));
  return {
    statement: SQL.hits[indexed.length],
    values: [
      ownerId,
      ...after,
      take,
      others.map(containsPattern),
      places,
      ...indexed.map(containsPattern),
    ],
  };
}

interface HitRow extends MessageResponseDto {
  roomTitle: string;
  slot: boolean;
  fetched: number;
  before: string;
}

/** 429 with Retry-After: the caller has SEARCH_MAX_CONCURRENT_PER_USER searches running. */
export class TooManySearchesException extends HttpException {
  readonly retryAfterSeconds = 1;
  constructor(places: number) {
    super(
      `At most ${places} searches can run at once per user; try again in a moment`,
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

@Injectable()
export class SearchService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Search');

  private readonly places: number;

  constructor(
    private readonly sql: Sql,
    config: ConfigService<AppConfig, true>,
  ) {
    this.places = config.get('search', { infer: true }).maxConcurrentPerUser;
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      const [row] = await this.sql.rows<{
        ok: boolean;
        ctype: string;
        encoding: string;
        name: string;
      }>(SQL.localeCheck, []);
      if (row.ok) return;
      this.logger.warn(
        `The database "${row.name}" has LC_CTYPE "${row.ctype}" and encoding ${row.encoding}: ` +
          'to it Hangul, kana, CJK ideographs and accented letters are not letters, so search ' +
          "reads a user's whole history to find them and does not fold the case of accented " +
          'letters. Fix: create the database with a UTF-8 locale (e.g. CREATE DATABASE ... ' +
          `ENCODING 'UTF8' ` +
          `LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0) and move the data into ` +
          'it with pg_dump and pg_restore; for the embedded database, stop the service, move its ' +
          'data directory away, start it again (a new cluster is made with C.UTF-8) and restore.',
      );
    } catch (error) {
      // Name and code only: driver messages can quote too much.
      const code = (error as { code?: unknown }).code;
      this.logger.warn(
        `Could not check the database's locale for search: ${(error as Error).name}` +
          (typeof code === 'string' ? ` (${code})` : ''),
      );
    }
  }

  /** 1 statement (see hitsStatement). */
  async search(ownerId: string, query: SearchQueryDto): Promise<SearchPageDto> {
    const terms = parseSearchTerms(query.q);
    if (terms.length === 0) throw new BadRequestException('q must contain a search term');
    let after: readonly [string, string] = FIRST_PAGE;
    if (query.cursor !== undefined) {
      const cursor = decodeSearchCursor(query.cursor);
      if (cursor === null) throw new BadRequestException('cursor is not a cursor of this search');
      after = [cursor.createdAt, cursor.id];
    }
    const { statement, values } = hitsQuery(ownerId, terms, query.limit + 1, after, this.places);
    const rows = await this.sql.heavyRows<HitRow | { id: null; slot: boolean }>(
      ownerId,
      statement,
      values,
    );
    if (rows.length === 0) throw new UnauthorizedException('Unauthorized');
    if (!rows[0].slot) throw new TooManySearchesException(this.places);
    const hits = rows.filter((row): row is HitRow => row.id !== null);
    const cut = hits.length > 0 && hits[0].fetched > hits.length;
    const hasMore = cut || hits.length > query.limit;
    if (hits.length > query.limit) hits.pop();

    const items = hits.map(({ roomTitle, slot: _s, fetched: _f, before: _b, ...message }) => ({
      message,
      chatRoom: { id: message.chatRoomId, title: roomTitle },
      ...buildSnippet(message.content, terms),
    }));
    const last = hits[hits.length - 1];
    return {
      items,
      nextCursor: hasMore ? encodeSearchCursor({ createdAt: last.createdAt, id: last.id }) : null,
    };
  }
}
