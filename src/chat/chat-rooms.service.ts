import {
  BadRequestException,
  ConflictException,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { DatabaseError } from 'pg';
import { ModelCatalog } from '../assistant/model-catalog';
import type { TokenCaller } from '../auth/auth-user';
import { SessionsService } from '../auth/sessions.service';
import { containsPattern } from '../common/like-pattern';
import type { SqlRunner } from '../database/sql.service';
import {
  ChatRoomsRepository,
  SQL as ROOMS,
  toNewRoom,
  toRoom,
  type ChatRoomRow,
} from './chat-rooms.repository';
import {
  ChatRoomPageDto,
  ChatRoomResponseDto,
  ChatRoomSummaryDto,
} from './dto/chat-room-response.dto';
import { CreateChatRoomDto, DEFAULT_ROOM_TITLE } from './dto/create-chat-room.dto';
import { CreateMessageDto } from './dto/create-message.dto';
import { ListChatRoomsQueryDto } from './dto/list-chat-rooms-query.dto';
import { ListMessagesQueryDto } from './dto/list-messages-query.dto';
import { MessagePageDto, MessageResponseDto } from './dto/message-response.dto';
import { UpdateChatRoomDto } from './dto/update-chat-room.dto';
import { toMessage } from './message.mapper';
import { ForkChatRoomDto } from './dto/fork-chat-room.dto';
import { MessagesRepository, SQL as MESSAGES, type PageScope } from './messages.repository';
import { refuseRoomWrite } from './room-versions';

/** Most messages GET /chat-rooms/:id embeds; older ones are read through the message pages. */
export const ROOM_MESSAGES_LIMIT = 1000;
/** Most messages each room carries in a list with include=messages. */
export const LIST_MESSAGES_PER_ROOM = 50;
/**
 * Most bytes of message content (UTF-8, as stored) one answer embeds: a room, a message page,
 * or a page of rooms with include=messages carries fewer messages when they are large, never
 * fewer than one. JSON escaping at most sextuples a byte (U+0001 is `\u0001`), so an answer
 * stays within about 12 MiB whatever was stored. octet_length() reads the stored size without
 * de-TOASTing the text.
 */
export const ANSWER_CONTENT_BYTES = 2 * 1024 * 1024;
const messageNotFound = () => new NotFoundException('No such message in this chat room');
const parentNotFound = () => new BadRequestException('parentId is not a message of this chat room');
type TokenCallerParams = { ownerId: string; sessionId: string };

/** 401 when the token is valid but its user was deleted since (the room's foreign key). */
function ownerGone(error: unknown): never {
  if (error instanceof DatabaseError && error.constraint === 'fk_chat_rooms_owner') {
    throw new UnauthorizedException('Unauthorized');
  }
  throw error;
}

/**
 * Chat rooms and their messages. Every route costs a fixed number of statements (see each
 * method; test/chat/query-budget.e2e-spec.ts pins them), whatever the number of messages.
 */
@Injectable()
export class ChatRoomsService {
  constructor(
    private readonly rooms: ChatRoomsRepository,
    private readonly messages: MessagesRepository,
    private readonly models: ModelCatalog,
    private readonly sessions: SessionsService,
  ) {}

  /** 1 statement. `db` is the transaction of an Idempotency-Key, if any. */
  async create(
    caller: TokenCaller,
    dto: CreateChatRoomDto,
    db?: SqlRunner,
  ): Promise<ChatRoomResponseDto> {
    this.models.assertSelectable(dto.model);
    const room = await this.rooms.create(this.createParams(caller, dto), db).catch(ownerGone);
    if (!room) throw new UnauthorizedException('Unauthorized');
    return room;
  }

  /** create() as the statement an Idempotency-Key wraps. */
  createKeyed(caller: TokenCaller, dto: CreateChatRoomDto) {
    this.models.assertSelectable(dto.model);
    return {
      statement: ROOMS.create,
      params: this.createParams(caller, dto),
      answer: toNewRoom,
      nothing: () => Promise.reject(new UnauthorizedException('Unauthorized')),
      error: ownerGone,
    };
  }

  private createParams(caller: TokenCaller, dto: CreateChatRoomDto) {
    return {
      ownerId: caller.id,
      sessionId: caller.sessionId,
      title: dto.title ?? DEFAULT_ROOM_TITLE,
      model: dto.model ?? null,
      systemPrompt: dto.systemPrompt ?? null,
    };
  }

  /** 1 statement; 2 with include=messages; 1 more when the page is empty (for the total). */
  async list(caller: TokenCaller, query: ListChatRoomsQueryDto): Promise<ChatRoomPageDto> {
    const { limit, offset } = query;
    const { items, total, callerExists } = await this.rooms.page({
      ownerId: caller.id,
      sessionId: caller.sessionId,
      limit,
      offset,
      pattern: query.q === undefined ? null : containsPattern(query.q),
    });
    if (!callerExists) throw new UnauthorizedException('Unauthorized');
    if (query.include === 'messages' && items.length > 0) {
      const messages = await this.messages.newestOfRooms({
        roomIds: items.map((room) => room.id),
        perRoom: LIST_MESSAGES_PER_ROOM,
        budget: ANSWER_CONTENT_BYTES,
      });
      const byRoom = new Map<string, MessageResponseDto[]>(items.map((room) => [room.id, []]));
      for (const message of messages) byRoom.get(message.chatRoomId)!.push(message);
      for (const room of items) {
        room.messages = byRoom.get(room.id)!.reverse();
        room.hasMoreMessages = room.messages.length < room.messageCount;
      }
    }
    return { items, total, limit, offset };
  }

  /** 2 statements, whatever the number of messages, on the active path or on other branches. */
  async findOne(caller: TokenCaller, roomId: string): Promise<ChatRoomResponseDto> {
    const room = await this.rooms.get({ roomId, ownerId: caller.id, sessionId: caller.sessionId });
    if (!room) return this.notFound(caller);
    return this.withPath(room);
  }

  /** A room with its active path's newest messages (1 statement, through `db`). */
  private async withPath(room: ChatRoomRow, db?: SqlRunner): Promise<ChatRoomResponseDto> {
    const { messages, cut } = await this.messages.newest(
      {
        roomId: room.id,
        take: ROOM_MESSAGES_LIMIT + 1,
        budget: ANSWER_CONTENT_BYTES,
      },
      false,
      db,
    );
    const hasMoreMessages = cut || messages.length > ROOM_MESSAGES_LIMIT;
    if (messages.length > ROOM_MESSAGES_LIMIT) messages.pop();
    return toRoom(room, messages.reverse(), hasMoreMessages);
  }

  /**
   * PUT …/active-message: 2 statements (the switch, then the new path as GET reads it); one
   * more when it changed nothing (why: 404, 412), and the switch again when the room changed
   * while it waited.
   */
  async setActive(
    caller: TokenCaller,
    roomId: string,
    messageId: string,
    ifMatch: number[] | null,
  ): Promise<ChatRoomResponseDto> {
    const params = { roomId, messageId, ownerId: caller.id, sessionId: caller.sessionId };
    const room = await this.rooms.setActive({ ...params, ifMatch });
    if (!room) return this.refuse(params, ifMatch, messageNotFound);
    return this.withPath(room);
  }

  /** DELETE …/messages/:id: 1 statement (and as setActive when it changed nothing). */
  async deleteMessage(
    caller: TokenCaller,
    roomId: string,
    messageId: string,
    ifMatch: number[] | null,
  ): Promise<void> {
    const params = { roomId, messageId, ownerId: caller.id, sessionId: caller.sessionId };
    const deleted = await this.rooms.deleteMessage({ ...params, ifMatch });
    if (deleted === 'busy') {
      throw new ConflictException('A reply below this message is being written; cancel it first');
    }
    if (deleted === null) return this.refuse(params, ifMatch, messageNotFound);
  }

  /**
   * POST …/fork: 2 statements (the copy, then the new room's messages), through `db` (an
   * Idempotency-Key's transaction, if any).
   */
  async fork(
    caller: TokenCaller,
    roomId: string,
    dto: ForkChatRoomDto,
    db?: SqlRunner,
  ): Promise<ChatRoomResponseDto> {
    const params = {
      roomId,
      messageId: dto.messageId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
    };
    const room = await this.rooms
      .fork({ ...params, title: dto.title ?? null }, db)
      .catch(ownerGone);
    if (!room) return this.refuse(params, null, messageNotFound);
    return this.withPath(room, db);
  }

  /** Why a room write changed nothing, as refuseRoomWrite answers it (1 statement). */
  private async refuse(
    params: TokenCallerParams & { roomId: string; messageId: string | null },
    ifMatch: number[] | null,
    missingMessage: (() => Error) | null,
  ): Promise<never> {
    refuseRoomWrite(await this.rooms.refusal(params), ifMatch, missingMessage);
  }

  /** 1 statement. */
  async update(
    caller: TokenCaller,
    roomId: string,
    dto: UpdateChatRoomDto,
    ifMatch: number[] | null,
  ): Promise<ChatRoomSummaryDto> {
    if (dto.title == null && dto.model === undefined && dto.systemPrompt === undefined) {
      throw new BadRequestException('Send at least one of title, model and systemPrompt');
    }
    this.models.assertSelectable(dto.model);
    const room = await this.rooms.update({
      roomId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
      title: dto.title ?? null,
      setModel: dto.model !== undefined,
      model: dto.model ?? null,
      setSystemPrompt: dto.systemPrompt !== undefined,
      systemPrompt: dto.systemPrompt ?? null,
      ifMatch,
    });
    return room ?? this.refuse(this.roomParams(caller, roomId), ifMatch, null);
  }

  /** 1 statement; the room's messages go with it (ON DELETE CASCADE). */
  async remove(caller: TokenCaller, roomId: string, ifMatch: number[] | null): Promise<void> {
    const deleted = await this.rooms.delete({ ...this.roomParams(caller, roomId), ifMatch });
    if (!deleted) return this.refuse(this.roomParams(caller, roomId), ifMatch, null);
  }

  private roomParams(caller: TokenCaller, roomId: string) {
    return { roomId, ownerId: caller.id, sessionId: caller.sessionId, messageId: null };
  }

  /**
   * 1 statement; `db` as for create(). A post under a parentId that another write beat to
   * the room's lock is run again (the caller wraps it in retryingRoomWrite).
   */
  async postMessage(
    caller: TokenCaller,
    roomId: string,
    dto: CreateMessageDto,
    ifMatch: number[] | null,
    db?: SqlRunner,
  ): Promise<MessageResponseDto> {
    const params = this.postParams(caller, roomId, dto, ifMatch);
    const message = await this.messages.post({ ...params, parentId: dto.parentId }, db);
    return message ?? this.refusePost(caller, roomId, dto, ifMatch);
  }

  /** postMessage() as the statement an Idempotency-Key wraps. */
  postMessageKeyed(
    caller: TokenCaller,
    roomId: string,
    dto: CreateMessageDto,
    ifMatch: number[] | null,
  ) {
    const params = this.postParams(caller, roomId, dto, ifMatch);
    const nothing = () => this.refusePost(caller, roomId, dto, ifMatch);
    return dto.parentId === undefined
      ? { statement: MESSAGES.post, params, answer: toMessage, nothing }
      : {
          statement: MESSAGES.postUnder,
          params: { ...params, parentId: dto.parentId },
          answer: toMessage,
          nothing,
        };
  }

  private postParams(
    caller: TokenCaller,
    roomId: string,
    dto: CreateMessageDto,
    ifMatch: number[] | null,
  ) {
    return {
      roomId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
      role: dto.role ?? 'user',
      content: dto.content,
      ifMatch,
    };
  }

  private refusePost(
    caller: TokenCaller,
    roomId: string,
    dto: CreateMessageDto,
    ifMatch: number[] | null,
  ): Promise<never> {
    const parentId = dto.parentId ?? null;
    return this.refuse(
      { ...this.roomParams(caller, roomId), messageId: parentId },
      ifMatch,
      parentId === null ? null : parentNotFound,
    );
  }

  /** 2 statements: room and cursor, then the page. */
  async listMessages(
    caller: TokenCaller,
    roomId: string,
    query: ListMessagesQueryDto,
  ): Promise<MessagePageDto> {
    if (query.before && query.after) {
      throw new BadRequestException('Use either before or after, not both');
    }
    const cursorId = query.before ?? query.after ?? null;
    const room = await this.messages.roomAndCursor({
      roomId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
      cursorId,
    });
    if (!room) return this.notFound(caller);
    if (cursorId && !room.cursorFound) {
      throw new BadRequestException('The cursor is not a message of this chat room');
    }
    const all = query.branch === 'all';
    const scope: PageScope = all ? 'all' : room.cursorOnPath ? 'path' : 'cursor';
    const page = { roomId, take: query.limit + 1, budget: ANSWER_CONTENT_BYTES };
    const { messages, cut } = !cursorId
      ? await this.messages.newest(page, all)
      : query.before
        ? await this.messages.before({ ...page, cursorId }, scope)
        : await this.messages.after({ ...page, cursorId }, scope);
    const hasMore = cut || messages.length > query.limit;
    if (messages.length > query.limit) messages.pop();
    // Newest-first reads are turned around: items are always oldest first.
    return { items: query.after ? messages : messages.reverse(), hasMore };
  }

  /**
   * A statement found no room of the caller's: 404, or 401 when the caller's session is no
   * longer live (revoked, or the user deleted). One more statement, on this path only.
   */
  private async notFound(caller: TokenCaller): Promise<never> {
    await this.sessions.assertLive(caller);
    throw new NotFoundException('Chat room not found');
  }
}
