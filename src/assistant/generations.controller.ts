import {
  BadRequestException,
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Req,
  Res,
} from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBody,
  ApiBearerAuth,
  ApiConflictResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IfMatch, RoomWrite } from '../chat/room-versions';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { Idempotency, IdempotentRequest } from '../idempotency/idempotent-request.decorator';
import {
  IdempotentRoute,
  REPLAYED_RESPONSE_HEADERS,
} from '../idempotency/idempotent-route.decorator';
import {
  GenerationResponseDto,
  GenerationWithContentDto,
  ModelListDto,
  StartedGenerationDto,
  UserUsageDto,
} from './dto/generation-response.dto';
import { StartGenerationDto } from './dto/start-generation.dto';
import { EventStreamsService } from './event-streams.service';
import { GenerationsService } from './generations.service';
import { NOT_CONFIGURED } from './model-catalog';

const EVENTS_DESCRIPTION = `A \`text/event-stream\`. Every event has an \`id:\` (1, 2, 3… within the
generation), an \`event:\` name and one line of JSON \`data:\`:

- \`start\` \`{ generation, userMessage, assistantMessage }\`: always event 1.
- \`delta\` \`{ text }\`: the next piece of the reply; the texts of all deltas in id order are
  exactly the message's final content.
- \`title\` \`{ title }\`: the room was given a title (after the first reply of a "New chat").
- \`done\` \`{ generation, message }\`: the last event (the final Generation and the stored
  assistant Message); the response then ends.
- \`snapshot\` \`{ content }\`: only when resuming after events that were never stored (their
  instance died): the whole stored text, replacing what the client has.

A comment line \`: ping\` is sent every 15 s. Read it with \`fetch\` (EventSource cannot send
the bearer token). Disconnecting never stops the reply.`;

const STREAM_CAPS =
  'EVENT_STREAMS_PER_SESSION (10) event streams of the caller’s session, or ' +
  'EVENT_STREAMS_PER_USER (20) of the caller, are open on any instance (with Retry-After); ' +
  'nothing is started or written';
const RETRY_AFTER = {
  'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } },
};

const GenerationId = () => Param('generationId', new ParseUUIDPipe());
const NOT_FOUND = 'No such generation of the caller (another user’s is also 404)';
const UNAVAILABLE = `${NOT_CONFIGURED} (LLM_BASE_URL unset)`;

/**
 * Parses Last-Event-ID: absent is 0; a non-negative integer up to Number.MAX_SAFE_INTEGER is
 * taken (the id is compared as a number, which is exact up to there); anything else is 400.
 */
export function lastEventId(header: string | undefined): number {
  const text = header?.trim() ?? '';
  if (text === '') return 0;
  const digits = /^0*(\d{1,16})$/.exec(text)?.[1];
  const id = digits === undefined ? Number.NaN : Number(digits);
  if (!Number.isSafeInteger(id)) {
    throw new BadRequestException('Last-Event-ID must be a non-negative integer');
  }
  return id;
}

function wantsStream(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream');
}

@ApiTags('assistant')
@ApiBearerAuth()
@ApiUnauthorizedResponse({
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its user was deleted',
})
@ApiServiceUnavailableResponse({ type: ErrorResponseDto, description: UNAVAILABLE })
// The two routes that may answer with an event stream take the raw reply (@Res()): SseStream
// writes to its socket (Fastify's hijack), which Nest would otherwise answer a second time.
// Errors are thrown as everywhere else; Retry-After travels with the exception
// (retryAfterSeconds, sent by AllExceptionsFilter).
@Controller()
export class GenerationsController {
  constructor(
    private readonly generations: GenerationsService,
    private readonly streams: EventStreamsService,
  ) {}

  /** The models a room or a reply may use; `default` marks the one rooms use without a model. */
  @Get('models')
  @ApiOkResponse({ type: ModelListDto })
  models(@CurrentUser() user: TokenCaller): Promise<ModelListDto> {
    return this.generations.models(user);
  }

  /**
   * Starts the assistant's reply. With `content`, stores it as a user message first; without,
   * replies to the room as it stands. Both messages are stored when this returns (the reply
   * with status "streaming" and empty content). JSON answers `202` with
   * `Location: /api/generations/:id/events`; with `Accept: text/event-stream` the answer is
   * `200` and the event stream itself. The new reply is the room's active message. A
   * **regenerate** is `{ "parentId": <the user message above the reply> }`: a new assistant
   * sibling, the earlier reply kept (and shown again if this one is deleted).
   */
  @Post('chat-rooms/:roomId/generations')
  @ApiOperation({ description: EVENTS_DESCRIPTION })
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiBody({
    type: StartGenerationDto,
    examples: {
      ask: { summary: 'Post a message and reply to it', value: { content: 'And on day three?' } },
      regenerate: {
        summary: 'Regenerate: a new reply to the user message above the old one',
        value: { parentId: '9a2e4c1d-7b3f-4e8a-b6d5-0c1f2e3d4a5b' },
      },
      edit: {
        summary: 'Edit and ask again: a sibling of the edited message, then its reply',
        value: {
          content: 'What should I see in Porto instead?',
          parentId: '3c5e7a9b-1d2f-4a6b-8c0d-2e4f6a8b0c1d',
        },
      },
    },
  })
  @ApiAcceptedResponse({
    type: StartedGenerationDto,
    description: 'Started (JSON); Location names its event stream',
    headers: {
      Location: { description: '/api/generations/:id/events', schema: { type: 'string' } },
      ...REPLAYED_RESPONSE_HEADERS,
    },
  })
  @ApiOkResponse({
    description:
      'With `Accept: text/event-stream`: the event stream (see above); a retry with the same ' +
      'Idempotency-Key gets the same generation’s stream from its first event',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
    headers: REPLAYED_RESPONSE_HEADERS,
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description:
      'Invalid body or id, a model not offered, a parentId that is not a message of this room, or nothing to reply to (no content and no parent message)',
  })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: 'No such chat room of the caller' })
  // Applied after @IdempotentRoute's 409, so it names both causes.
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description:
      'A reply of this room is running, or a request with this Idempotency-Key is still being ' +
      'handled (then with Retry-After)',
    headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description:
      'LLM_MAX_CONCURRENT_PER_USER replies running, or the daily token limit reached (with ' +
      `Retry-After); with \`Accept: text/event-stream\`, also: ${STREAM_CAPS}`,
    headers: RETRY_AFTER,
  })
  @RoomWrite()
  @IdempotentRoute()
  // The answer's status, stored with an Idempotency-Key; a stream is written as 200.
  @HttpCode(HttpStatus.ACCEPTED)
  async start(
    @CurrentUser() user: TokenCaller,
    @Param('roomId', new ParseUUIDPipe()) roomId: string,
    @Body() dto: StartGenerationDto,
    @IfMatch() ifMatch: number[] | null,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
    @Idempotency() idempotent: IdempotentRequest,
  ): Promise<void> {
    const start = () => this.generations.start(user, roomId, dto, idempotent, ifMatch);
    if (!wantsStream(request)) {
      // Location (and, for a retry, the stored status and Idempotent-Replayed) are set.
      void reply.send(await start());
      return;
    }
    // The stream's slot is taken before the start: past a cap, no generation is started. The
    // first request follows the runner it started; a retry the same generation, from its
    // first event, wherever it runs (or replayed to `done` when it has finished).
    await this.streams.open(user, reply, async () => (await start()).generation.id);
  }

  /** A generation and the text of its reply so far (at most about a second behind the stream). */
  @Get('generations/:generationId')
  @ApiParam({ name: 'generationId', format: 'uuid' })
  @ApiOkResponse({ type: GenerationWithContentDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed id' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  findOne(
    @CurrentUser() user: TokenCaller,
    @GenerationId() id: string,
  ): Promise<GenerationWithContentDto> {
    return this.generations.findOne(user, id);
  }

  /**
   * The generation's event stream, from any instance. With `Last-Event-ID: n`, every event
   * after `n` exactly once and in order, then live; a finished generation replays and ends
   * with `done`.
   */
  @Get('generations/:generationId/events')
  @ApiOperation({ description: EVENTS_DESCRIPTION })
  @ApiParam({ name: 'generationId', format: 'uuid' })
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'The id of the last event the client has: the stream goes on after it',
  })
  @ApiOkResponse({
    description: 'The event stream',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed id or Last-Event-ID' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: STREAM_CAPS,
    headers: RETRY_AFTER,
  })
  async events(
    @CurrentUser() user: TokenCaller,
    @GenerationId() id: string,
    @Headers('last-event-id') lastEventIdHeader: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const after = lastEventId(lastEventIdHeader);
    await this.generations.assertReadable(user, id);
    await this.streams.open(user, reply, () => Promise.resolve(id), after);
  }

  /**
   * Stops the reply on whichever instance writes it (the request to the model is aborted);
   * the text so far is kept and the status is "stopped". A finished generation is left as
   * it is. Answers the final state.
   */
  @Post('generations/:generationId/cancel')
  @HttpCode(HttpStatus.OK)
  @ApiParam({ name: 'generationId', format: 'uuid' })
  @ApiOkResponse({ type: GenerationResponseDto })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed id' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  cancel(
    @CurrentUser() user: TokenCaller,
    @GenerationId() id: string,
  ): Promise<GenerationResponseDto> {
    return this.generations.cancel(user, id);
  }

  /** The caller's model usage today (UTC) and the daily token limit. */
  @Get('users/me/usage')
  @ApiOkResponse({ type: UserUsageDto })
  usage(@CurrentUser() user: TokenCaller): Promise<UserUsageDto> {
    return this.generations.usage(user);
  }
}
