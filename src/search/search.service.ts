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
import { ANSWER_CONTENT_BYTES } from '../chat/chat-rooms.service';
import type { TokenCaller } from '../auth/auth-user';
import { toMessage } from '../chat/message.mapper';
import { containsPattern } from '../common/like-pattern';
import type { AppConfig } from '../config/configuration';
import { apiTimestamp } from '../database/iso-timestamps';
import { SearchQueryDto } from './dto/search-query.dto';
import { SearchPageDto } from './dto/search-response.dto';
import { decodeSearchCursor, encodeSearchCursor } from './search-cursor';
import { hasTrigrams, parseSearchTerms } from './search-terms';
import { buildSnippet } from './snippet';
import { MAX_INDEXED_TERMS, SearchRepository, type HitsParams } from './search.repository';

/** The first page starts above every (created_at, id): no separate statement without a cursor. */
const FIRST_PAGE = ['infinity', 'ffffffff-ffff-ffff-ffff-ffffffffffff'] as const;

/**
 * The parameters of one page: `take` hits of the owner's after `after` ((createdAt, id), newest
 * first); the longest terms with trigrams narrow through the index. The bench EXPLAINs them.
 */
export function hitsParams(
  caller: TokenCaller,
  terms: string[],
  take: number,
  after: readonly [string, string] = FIRST_PAGE,
  places = 1_000_000,
): HitsParams {
  const indexed = terms
    .filter(hasTrigrams)
    .sort((a, b) => b.length - a.length)
    .slice(0, MAX_INDEXED_TERMS);
  const [indexed0, indexed1, indexed2] = indexed.map(containsPattern);
  return {
    ownerId: caller.id,
    sessionId: caller.sessionId,
    afterCreatedAt: after[0],
    afterId: after[1],
    take,
    budget: ANSWER_CONTENT_BYTES,
    places,
    others: terms.filter((term) => !indexed.includes(term)).map(containsPattern),
    indexed0,
    indexed1,
    indexed2,
  };
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
    private readonly repository: SearchRepository,
    config: ConfigService<AppConfig, true>,
  ) {
    this.places = config.get('search', { infer: true }).maxConcurrentPerUser;
  }

  async onApplicationBootstrap(): Promise<void> {
    try {
      const row = await this.repository.localeCheck();
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
  async search(caller: TokenCaller, query: SearchQueryDto): Promise<SearchPageDto> {
    const terms = parseSearchTerms(query.q);
    if (terms.length === 0) throw new BadRequestException('q must contain a search term');
    let after: readonly [string, string] = FIRST_PAGE;
    if (query.cursor !== undefined) {
      const cursor = decodeSearchCursor(query.cursor);
      if (cursor === null) throw new BadRequestException('cursor is not a cursor of this search');
      after = [cursor.createdAt, cursor.id];
    }
    const hits = await this.repository.hits(
      hitsParams(caller, terms, query.limit + 1, after, this.places),
    );
    if (hits === null) throw new UnauthorizedException('Unauthorized');
    if (hits === 'busy') throw new TooManySearchesException(this.places);
    const cut = hits.length > 0 && hits[0].fetched > hits.length;
    const hasMore = cut || hits.length > query.limit;
    if (hits.length > query.limit) hits.pop();

    const items = hits.map((hit) => {
      const message = toMessage(hit);
      return {
        message,
        chatRoom: { id: message.chatRoomId, title: hit.room_title },
        ...buildSnippet(message.content, terms),
      };
    });
    const last = hits[hits.length - 1];
    return {
      items,
      nextCursor: hasMore
        ? encodeSearchCursor({ createdAt: apiTimestamp(last.created_at), id: last.id })
        : null,
    };
  }
}
