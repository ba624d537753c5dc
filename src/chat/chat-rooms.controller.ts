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
  Query,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
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

const RoomId = () =>
  Param(
    'roomId',
    new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException('roomId must be a UUID') }),
  );
const NOT_FOUND = 'No such chat room of the caller (another user’s room is also 404)';

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
  @ApiCreatedResponse({ type: ChatRoomResponseDto, headers: REPLAYED_RESPONSE_HEADERS })
  @IdempotentRoute()
  create(
    @CurrentUser() user: TokenCaller,
    @Body() dto: CreateChatRoomDto,
    @Idempotency() idempotent: IdempotentRequest,
  ): Promise<ChatRoomResponseDto> {
    return this.idempotency.run(user.id, idempotent, (db) => this.rooms.create(user, dto, db), {
      oneStatement: () => this.rooms.createKeyed(user, dto),
    });
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
   * One room with its messages in conversation order: all of them up to 1,000, else the
   * newest 1,000 and `hasMoreMessages: true`.
   */
  @Get(':roomId')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: ChatRoomResponseDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  findOne(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
  ): Promise<ChatRoomResponseDto> {
    return this.rooms.findOne(user, roomId);
  }

  /**
   * Changes a room's title, model and/or system prompt (at least one); this also counts as
   * activity: updatedAt moves.
   */
  @Patch(':roomId')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse({ type: ChatRoomSummaryDto })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  update(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: UpdateChatRoomDto,
  ): Promise<ChatRoomSummaryDto> {
    return this.rooms.update(user, roomId, dto);
  }

  /** Deletes a room and all its messages. */
  @Delete(':roomId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Deleted, with its messages' })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  remove(@CurrentUser() user: TokenCaller, @RoomId() roomId: string): Promise<void> {
    return this.rooms.remove(user, roomId);
  }

  /** Adds a message; the room's updatedAt becomes the message's createdAt, atomically. */
  @Post(':roomId/messages')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiCreatedResponse({ type: MessageResponseDto, headers: REPLAYED_RESPONSE_HEADERS })
  @ApiNotFoundResponse({ type: ErrorResponseDto, description: NOT_FOUND })
  @IdempotentRoute()
  postMessage(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Body() dto: CreateMessageDto,
    @Idempotency() idempotent: IdempotentRequest,
  ): Promise<MessageResponseDto> {
    return this.idempotency.run(
      user.id,
      idempotent,
      (db) => this.rooms.postMessage(user, roomId, dto, db),
      { oneStatement: () => this.rooms.postMessageKeyed(user, roomId, dto) },
    );
  }

  /**
   * A page of messages, oldest first. Without a cursor the newest `limit`; with `before` the
   * `limit` just older than that message; with `after` the `limit` just newer. `hasMore` tells
   * whether more exist in the direction of travel. Both cursors, or a cursor that is not a
   * message of this room, is 400.
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
