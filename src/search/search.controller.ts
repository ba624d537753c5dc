import { Controller, Get, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { SearchQueryDto } from './dto/search-query.dto';
import { SearchPageDto } from './dto/search-response.dto';
import { SearchService } from './search.service';

@ApiTags('search')
@ApiBearerAuth()
@Controller('search')
export class SearchController {
  constructor(private readonly search: SearchService) {}

  /**
   * Searches the caller's own messages in every room, newest first (createdAt desc, then id
   * desc), a page at a time: pass `nextCursor` as `cursor` for the next page. Each hit carries
   * the message, its room, a plain-text snippet and highlight offsets.
   */
  @Get()
  @ApiOkResponse({ type: SearchPageDto })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description:
      'q missing, empty, longer than 200 characters or without a term; limit not 1–50; a ' +
      'cursor this API did not give; an unknown parameter',
  })
  @ApiUnauthorizedResponse({
    type: ErrorResponseDto,
    description: 'Missing, invalid or expired token, or its user was deleted',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'SEARCH_MAX_CONCURRENT_PER_USER searches of the caller are running (any instance)',
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  })
  @ApiServiceUnavailableResponse({
    type: ErrorResponseDto,
    description:
      'The database is unavailable, or this instance’s DB_HEAVY_CONNECTIONS searches stayed ' +
      'busy for DB_CONNECT_TIMEOUT_MS',
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  })
  find(@CurrentUser() user: TokenCaller, @Query() query: SearchQueryDto): Promise<SearchPageDto> {
    return this.search.search(user, query);
  }
}
