import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Patch,
  Post,
  Put,
  Query,
  Res,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { IdempotencyService } from '../idempotency/idempotency.service';
import { Idempotency, type IdempotentRequest } from '../idempotency/idempotent-request.decorator';
import {
  IdempotentRoute,
  REPLAYED_RESPONSE_HEADERS,
} from '../idempotency/idempotent-route.decorator';
import { ChatRoomsService } from './chat-rooms.service';
import {
  ChatRoomPageDto,
  ChatRoomResponseDto,
  ChatRoomSummaryDto,
} from './dto/chat-room-response.dto';
import { CreateChatRoomDto } from './dto/create-chat-room.dto';
import { CreateMessageDto } from './dto/create-message.dto';
import { ListChatRoomsQueryDto } from './dto/list-chat-rooms-query.dto';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto';
import { MessagePageDto, MessageResponseDto } from './dto/message-response.dto';
import { UpdateChatRoomDto } from './dto/update-chat-room.dto';
import { ForkChatRoomDto } from './dto/fork-chat-room.dto';
import { SetActiveMessageDto } from './dto/set-active-message.dto';
import { ETAG, IfMatch, retryingRoomWrite, RoomWrite, sendVersion } from './room-versions';

const RoomId = () =>
  Param(
    'roomId',
    new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException('roomId must be a UUID') }),
  );
const NOT_FOUND = 'No such chat room of the caller (another user’s room is also 404)';
const MessageId = () =>
  Param(
    'messageId',
    new ParseUUIDPipe({
      exceptionFactory: () => new BadRequestException('messageId must be a UUID'),
    }),
  );

@ApiTags('chat rooms')
@ApiBearerAuth()
@ApiUnauthorizedResponse({
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its user was deleted',
})
@ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body, query or id' })
@Controller('chat-rooms')
export class ChatRoomsController {
  constructor(
    private readonly rooms: ChatRoomsService,
    private readonly idempotency: IdempotencyService,
  ) {}

  /** Creates a chat room of the caller. */
  @Post()
  @ApiCreatedResponse({
    type: ChatRoomResponseDto,
    headers: { ...REPLAYED_RESPONSE_HEADERS, ...ETAG },
  })
  @IdempotentRoute()
  async create(
    @CurrentUser() user: TokenCaller,
    @Body() dto: CreateChatRoomDto,
    @Idempotency() idempotent: IdempotentRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatRoomResponseDto> {
    const room = await this.idempotency.run(
      user.id,
      idempotent,
      (db) => this.rooms.create(user, dto, db),
      { oneStatement: () => this.rooms.createKeyed(user, dto) },
    );
    sendVersion(reply, room.version);
    return room;
  }

  /**
   * The caller's rooms, most recently active first (updatedAt desc, then id), with each
   * room's message count and last message; `include=messages` adds the newest 50 messages.
   */
  @Get()
  @ApiOkResponse({ type: ChatRoomPageDto })
  list(
    @CurrentUser() user: TokenCaller,
    @Query() query: ListChatRoomsQueryDto,
  ): Promise<ChatRoomPageDto> {
    return this.rooms.list(user, query);
  }

  /**
   * One room with its active path in conversation order: all of it up to 1,000 messages, else
   * the newest 1,000 and `hasMoreMessages: true`.
   */
  @Get(':roomId')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: ChatRoomResponseDto, headers: ETAG })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  async findOne(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatRoomResponseDto> {
    const room = await this.rooms.findOne(user, roomId);
    sendVersion(reply, room.version);
    return room;
  }

  /**
   * Changes a room's title, model and/or system prompt (at least one); this also counts as
   * activity: updatedAt moves.
   */
  @Patch(':roomId')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: ChatRoomSummaryDto, headers: ETAG })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  @RoomWrite()
  async update(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: UpdateChatRoomDto,
    @IfMatch() ifMatch: number[] | null,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatRoomSummaryDto> {
    const room = await retryingRoomWrite(() => this.rooms.update(user, roomId, dto, ifMatch));
    sendVersion(reply, room.version);
    return room;
  }

  /** Deletes a room and all its messages, every branch. */
  @Delete(':roomId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Deleted, with its messages' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  @RoomWrite()
  remove(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @IfMatch() ifMatch: number[] | null,
  ): Promise<void> {
    return retryingRoomWrite(() => this.rooms.remove(user, roomId, ifMatch));
  }

  /**
   * Adds a message and makes it the room's active message; the room's updatedAt becomes the
   * message's createdAt, atomically. Without `parentId` it follows the active message (one
   * line, as in v2); with it, it is that message's child (an **edit** is a post with the edited
   * message's `parentId`: a new sibling, the original kept), or a new first message (`null`).
   */
  @Post(':roomId/messages')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiBody({
    type: CreateMessageDto,
    examples: {
      append: { summary: 'Add to the conversation', value: { content: 'And on day three?' } },
      edit: {
        summary: 'Edit: a sibling of the edited message (its parentId)',
        value: {
          content: 'What should I see in Porto in two days?',
          parentId: '9a2e4c1d-7b3f-4e8a-b6d5-0c1f2e3d4a5b',
        },
      },
    },
  })
  @ApiCreatedResponse({ type: MessageResponseDto, headers: REPLAYED_RESPONSE_HEADERS })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  @RoomWrite()
  @IdempotentRoute()
  postMessage(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: CreateMessageDto,
    @IfMatch() ifMatch: number[] | null,
    @Idempotency() idempotent: IdempotentRequest,
  ): Promise<MessageResponseDto> {
    return retryingRoomWrite(() =>
      this.idempotency.run(
        user.id,
        idempotent,
        (db) => this.rooms.postMessage(user, roomId, dto, ifMatch, db),
        { oneStatement: () => this.rooms.postMessageKeyed(user, roomId, dto, ifMatch) },
      ),
    );
  }

  /**
   * Switches branches: the path through the message becomes the active one. When the message
   * has children the server goes down to the leaf that was active most recently below it (the
   * newest leaf when none was). Answers the room with its new active path.
   */
  @Put(':roomId/active-message')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: ChatRoomResponseDto, headers: ETAG })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: `${NOT_FOUND}, or the message is not one of the room's`,
  })
  @RoomWrite()
  async setActive(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: SetActiveMessageDto,
    @IfMatch() ifMatch: number[] | null,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatRoomResponseDto> {
    const room = await retryingRoomWrite(() =>
      this.rooms.setActive(user, roomId, dto.messageId, ifMatch),
    );
    sendVersion(reply, room.version);
    return room;
  }

  /**
   * Deletes the message and every message below it (and their generations). When the active
   * message was among them, the path through the deleted message's parent becomes active,
   * going down from the parent as PUT …/active-message does (deleting a regenerated reply
   * shows the earlier one); a deleted first message leaves the most recently active other
   * branch active (none in an emptied room).
   */
  @Delete(':roomId/messages/:messageId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiParam({ name: 'messageId', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Deleted, with every message below it' })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: `${NOT_FOUND}, or the message is not one of the room's`,
  })
  @ApiConflictResponse({
    type: ErrorResponseDto,
    description: 'A reply at or below the message is being written (cancel it first)',
  })
  @RoomWrite()
  deleteMessage(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @MessageId() messageId: string,
    @IfMatch() ifMatch: number[] | null,
  ): Promise<void> {
    return retryingRoomWrite(() => this.rooms.deleteMessage(user, roomId, messageId, ifMatch));
  }

  /**
   * A new room of the caller holding a copy of the path from the root to the message (new
   * ids; contents, roles, statuses, models and timestamps kept — a reply still being written
   * is copied as `stopped`; model and systemPrompt copied). The source room is unchanged.
   */
  @Post(':roomId/fork')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiCreatedResponse({
    type: ChatRoomResponseDto,
    headers: { ...REPLAYED_RESPONSE_HEADERS, ...ETAG },
  })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: `${NOT_FOUND}, or the message is not one of the room's`,
  })
  @IdempotentRoute()
  async fork(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: ForkChatRoomDto,
    @Idempotency() idempotent: IdempotentRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ChatRoomResponseDto> {
    const room = await retryingRoomWrite(() =>
      this.idempotency.run(user.id, idempotent, (db) => this.rooms.fork(user, roomId, dto, db)),
    );
    sendVersion(reply, room.version);
    return room;
  }

  /**
   * A page of messages, oldest first: of the active path, or of every branch with
   * `branch=all`. Without a cursor the newest `limit`; with `before` the `limit` just older
   * than that message; with `after` the `limit` just newer. `hasMore` tells whether more exist
   * in the direction of travel. Both cursors, or a cursor that is not a message of this room,
   * is 400. A cursor off the active path pages along the path through it.
   */
  @Get(':roomId/messages')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: MessagePageDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  listMessages(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Query() query: ListMessagesQueryDto,
  ): Promise<MessagePageDto> {
    return this.rooms.listMessages(user, roomId, query);
  }
}
