import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  HttpException,
  HttpStatus,
  Injectable,
  NotFoundException,
  PreconditionFailedException,
  UnauthorizedException,
} from '@nestjs/common';
import { RoomChangedMeanwhile, retryingRoomWrite } from '../chat/room-versions';
import { toMessage } from '../chat/message.mapper';
import type { SqlRunner } from '../database/sql.service';
import { SessionsService } from '../auth/sessions.service';
import type { TokenCaller } from '../auth/auth-user';
import { IdempotencyService } from '../idempotency/idempotency.service';
import type { IdempotentRequest } from '../idempotency/idempotent-request.decorator';
import type {
  GenerationResponseDto,
  GenerationWithContentDto,
  ModelListDto,
  StartedGenerationDto,
  UserUsageDto,
} from './dto/generation-response.dto';
import { StartGenerationDto } from './dto/start-generation.dto';
import { GenerationCanceller } from './generation-canceller';
import { initialStart, storedState, StreamState } from './generation-events';
import { toGeneration } from './generation.mapper';
import { GenerationRegistry } from './generation-registry';
import { GenerationsRepository } from './generations.repository';
import { InstanceLease } from '../database/instance-lease';
import { ModelCatalog } from './model-catalog';
import { DEFAULT_TITLE } from './room-titler';
import { StartQueue } from './start-queue';

const BUSY = 'A reply is already being written in this chat room';

/** 429 for the daily token limit; AllExceptionsFilter sends its Retry-After (until midnight UTC). */
export class DailyLimitReachedException extends HttpException {
  constructor(readonly retryAfterSeconds: number) {
    super(
      'The daily token limit is reached; it resets at midnight UTC',
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

/** What the runner needs to know of the room, read by the start. */
interface RoomForStart {
  title: string;
  hasReply: boolean;
}

function secondsUntilMidnightUtc(now = new Date()): number {
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
  return Math.max(1, Math.ceil((midnight - now.getTime()) / 1000));
}

/**
 * The HTTP-facing side of generations: starts (one statement, then the runner on this
 * instance: GenerationRegistry), reads, cancels (GenerationCanceller), models and usage.
 * Event streams are EventStreamsService's.
 */
@Injectable()
export class GenerationsService {
  constructor(
    private readonly generations: GenerationsRepository,
    private readonly registry: GenerationRegistry,
    private readonly canceller: GenerationCanceller,
    private readonly queue: StartQueue,
    private readonly lease: InstanceLease,
    private readonly catalog: ModelCatalog,
    private readonly idempotency: IdempotencyService,
    private readonly sessions: SessionsService,
  ) {}

  /** 1 statement: the caller's session, which no other statement of this route checks. */
  async models(caller: TokenCaller): Promise<ModelListDto> {
    this.catalog.assertEnabled();
    await this.sessions.assertLive(caller);
    return { items: this.catalog.list() };
  }

  /**
   * Starts a generation and answers its start payload (stored with the Idempotency-Key, when
   * there is one, and given again to a retry). The checks and writes are one statement
   * (GenerationsRepository.start): without a key it runs like any other single statement;
   * with one, inside the key's transaction. Only after it is committed, and never for a
   * replay, the runner starts on this instance and reads the context. Should the process die
   * in between, the row names this instance as its owner: the sweep for dead instances ends
   * it as failed/interrupted like any other generation of a dead instance.
   */
  async start(
    caller: TokenCaller,
    roomId: string,
    dto: StartGenerationDto,
    idempotent: IdempotentRequest,
    ifMatch: number[] | null,
  ): Promise<StartedGenerationDto> {
    this.catalog.assertEnabled();
    this.catalog.assertSelectable(dto.model);
    const start = () =>
      retryingRoomWrite(() => this.startNow(caller, roomId, dto, idempotent, ifMatch));
    // With a key, a concurrent retry must still get its 409 at once, not wait its turn.
    return idempotent.key === null ? this.queue.run(caller.id, start) : start();
  }

  private startNow(
    caller: TokenCaller,
    roomId: string,
    dto: StartGenerationDto,
    idempotent: IdempotentRequest,
    ifMatch: number[] | null,
  ): Promise<StartedGenerationDto> {
    let room: RoomForStart | undefined;
    return this.idempotency.run(
      caller.id,
      idempotent,
      async (db) => {
        const inserted = await this.insert(db, caller, roomId, dto, ifMatch);
        room = inserted.room;
        // The `start` event's payload, and the JSON answer.
        return initialStart(
          toGeneration(inserted.generation),
          inserted.userMessage && toMessage(inserted.userMessage),
          toMessage(inserted.reply),
        );
      },
      {
        headers: (started) => ({ location: `/api/generations/${started.generation.id}/events` }),
        // From here on only the runner ends this generation.
        afterCommit: (started) => this.launch(caller.id, room!, started),
      },
    );
  }

  /** The start statement, through `db`; its refusals as the HTTP answers. */
  private async insert(
    db: SqlRunner,
    caller: TokenCaller,
    roomId: string,
    dto: StartGenerationDto,
    ifMatch: number[] | null,
  ) {
    const { config } = this.catalog;
    const row = await this.generations.start(db, {
      generationId: randomUUID(),
      roomId,
      userId: caller.id,
      sessionId: caller.sessionId,
      content: dto.content ?? null,
      placeUnder: dto.parentId !== undefined,
      parentId: dto.parentId ?? null,
      ifMatch,
      model: dto.model ?? null,
      offeredModels: config.models,
      defaultModel: config.defaultModel,
      maxRunningPerUser: config.maxConcurrentPerUser,
      dailyTokenLimit: config.dailyTokenLimit,
      instanceKey: this.lease.key,
    });
    switch (row.refused) {
      case 'unauthorized':
        throw new UnauthorizedException('Unauthorized');
      case 'not_found':
        throw new NotFoundException('Chat room not found');
      case 'version':
        throw new PreconditionFailedException(
          'The chat room has changed: its version is not one If-Match names',
        );
      case 'bad_parent':
        throw new BadRequestException('parentId is not a message of this chat room');
      case 'stale':
        throw new RoomChangedMeanwhile();
      case 'busy':
        throw new ConflictException(BUSY);
      case 'concurrency':
        throw new HttpException(
          `At most ${config.maxConcurrentPerUser} replies can be written at once per user`,
          HttpStatus.TOO_MANY_REQUESTS,
        );
      case 'daily':
        throw new DailyLimitReachedException(secondsUntilMidnightUtc());
      case 'no_messages':
        throw new BadRequestException('The chat room has no messages to reply to: send content');
    }
    return row;
  }

  private launch(userId: string, room: RoomForStart, start: StartedGenerationDto): void {
    const state: StreamState = { start, content: '', deltaLengths: [], title: null, done: null };
    this.registry.run({
      state,
      userId,
      mayTitle: room.title === DEFAULT_TITLE && !room.hasReply,
    });
  }

  async findOne(caller: TokenCaller, id: string): Promise<GenerationWithContentDto> {
    this.catalog.assertEnabled();
    const state = await this.read(caller, id);
    const local = this.registry.get(id);
    // While it runs here, memory is ahead of the stored text.
    const content = local && local.userId === caller.id ? local.state.content : state.content;
    return { ...(state.done?.generation ?? state.start.generation), content };
  }

  /** The current state rebuilt from the rows: 404 unless it is the caller's (401: session). */
  private async read(caller: TokenCaller, id: string): Promise<StreamState> {
    const stored = await this.generations.readForCaller({
      generationId: id,
      userId: caller.id,
      sessionId: caller.sessionId,
    });
    if (stored) return storedState(stored);
    await this.sessions.assertLive(caller);
    throw new NotFoundException('Generation not found');
  }

  /** Stops the reply wherever it runs; answers the final state (a finished one as it is). */
  async cancel(caller: TokenCaller, id: string): Promise<GenerationResponseDto> {
    this.catalog.assertEnabled();
    const state = await this.read(caller, id);
    if (!state.done) await this.canceller.cancel(caller.id, id);
    const generation: Partial<GenerationWithContentDto> = await this.findOne(caller, id);
    delete generation.content;
    return generation as GenerationResponseDto;
  }

  /** 404 unless the generation is the caller's; the caller then opens the stream. */
  async assertReadable(caller: TokenCaller, id: string): Promise<void> {
    this.catalog.assertEnabled();
    await this.read(caller, id);
  }

  async usage(caller: TokenCaller): Promise<UserUsageDto> {
    const today = await this.generations.usageToday({
      userId: caller.id,
      sessionId: caller.sessionId,
    });
    if (!today) throw new UnauthorizedException('Unauthorized');
    return {
      today: {
        promptTokens: today.prompt_tokens,
        completionTokens: today.completion_tokens,
        generations: today.generations,
      },
      dailyTokenLimit: this.catalog.config.dailyTokenLimit,
    };
  }
}
