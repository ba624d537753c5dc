import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  ConflictException,
  HttpException,
  HttpStatus,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { toMessage } from '../chat/message.mapper';
import { SqlRunner } from '../database/sql.service';
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
import { initialStart, replayAfter, storedState, StreamState } from './generation-events';
import { toGeneration } from './generation.mapper';
import { GenerationRegistry } from './generation-registry';
import { DEFAULT_TITLE, GenerationRunner, Subscriber } from './generation-runner';
import { GenerationsRepository, StartResult } from './generations.repository';
import { RunningGenerationsRepository } from './running-generations.repository';
import { ModelCatalog } from './model-catalog';
import type { ChatTurn } from './model-client';

/** How long a cancel waits for the instance running the generation to store its end. */
const CANCEL_WAIT_MS = 3000;
/** Followers on other instances re-read this often even without a signal (one may be lost). */
const FOLLOW_POLL_MS = 5000;

const BUSY = 'A reply is already being written in this chat room';

/** 429 for the daily token limit, with the seconds until midnight UTC. */
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

/** The HTTP-facing side of generations: starts, reads, cancels, event streams and usage. */
@Injectable()
export class GenerationsService {
  /** Per user, the end of the last start queued on this instance. */
  private readonly startsOf = new Map<string, Promise<unknown>>();

  constructor(
    private readonly generations: GenerationsRepository,
    private readonly running: RunningGenerationsRepository,
    private readonly registry: GenerationRegistry,
    private readonly catalog: ModelCatalog,
    private readonly idempotency: IdempotencyService,
  ) {}

  models(): ModelListDto {
    this.catalog.assertEnabled();
    return { items: this.catalog.list() };
  }

  /**
   * Starts a generation and answers its start payload (stored with the Idempotency-Key, when
   * there is one, and given again to a retry). The checks and writes are one statement
   * (SQL.start): without a key it runs like any other single statement; with one, inside the
   * key's transaction. Only after it is committed, and never for a replay, the runner starts
   * on this instance and reads the context. Should the process die in between, the row names
   * this instance as its owner: the sweep for dead instances ends it as failed/interrupted
   * like any other generation of a dead instance.
   */
  async start(
    userId: string,
    roomId: string,
    dto: StartGenerationDto,
    idempotent: IdempotentRequest,
  ): Promise<StartedGenerationDto> {
    this.catalog.assertEnabled();
    this.catalog.assertSelectable(dto.model);
    const start = () => this.startNow(userId, roomId, dto, idempotent);
    // With a key, a concurrent retry must still get its 409 at once, not wait its turn.
    return idempotent.key === null ? this.oneAtATime(userId, start) : start();
  }

  /**
   * Runs the starts (without a key) of one user on this instance one after another. They
   * would wait for each other on the user's row anyway, each holding a database connection
   * meanwhile: a burst of starts by few users took every pipelined and pooled connection (503
   * for the rest, and for the statements of running replies). The row lock still orders the
   * starts of one user across instances.
   */
  private oneAtATime<T>(userId: string, start: () => Promise<T>): Promise<T> {
    const previous = this.startsOf.get(userId) ?? Promise.resolve();
    const run = previous.then(start);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.startsOf.set(userId, settled);
    void settled.then(() => {
      if (this.startsOf.get(userId) === settled) this.startsOf.delete(userId);
    });
    return run;
  }

  private startNow(
    userId: string,
    roomId: string,
    dto: StartGenerationDto,
    idempotent: IdempotentRequest,
  ): Promise<StartedGenerationDto> {
    let room: RoomForStart | undefined;
    return this.idempotency.run(
      userId,
      idempotent,
      async (db) => {
        const inserted = await this.insert(db, userId, roomId, dto);
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
        afterCommit: (started) => this.launch(userId, roomId, room!, started),
      },
    );
  }

  /** The start statement, through `db`; its refusals as the HTTP answers. */
  private async insert(
    db: SqlRunner,
    userId: string,
    roomId: string,
    dto: StartGenerationDto,
  ): Promise<Extract<StartResult, { refused: null }>> {
    const { config } = this.catalog;
    const row = await this.generations.start(db, {
      generationId: randomUUID(),
      roomId,
      userId,
      content: dto.content ?? null,
      model: dto.model ?? null,
      offeredModels: config.models,
      defaultModel: config.defaultModel,
      maxRunningPerUser: config.maxConcurrentPerUser,
      dailyTokenLimit: config.dailyTokenLimit,
      instanceKey: this.registry.instanceKey,
    });
    switch (row.refused) {
      case 'unauthorized':
        throw new UnauthorizedException('Unauthorized');
      case 'not_found':
        throw new NotFoundException('Chat room not found');
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

  private launch(
    userId: string,
    roomId: string,
    room: RoomForStart,
    start: StartedGenerationDto,
  ): GenerationRunner {
    const state: StreamState = { start, content: '', deltaLengths: [], title: null, done: null };
    return this.registry.run({
      state,
      userId,
      loadContext: () => this.context(roomId, start.generation.messageId),
      mayTitle: room.title === DEFAULT_TITLE && !room.hasReply,
    });
  }

  /**
   * The system prompt, then the room's messages oldest first, cut from the oldest end to
   * LLM_CONTEXT_CHARS; the system prompt and the newest message are always sent.
   */
  private async context(roomId: string, replyId: string): Promise<ChatTurn[]> {
    const systemPrompt = await this.generations.systemPrompt({ roomId });
    const budget = Math.max(0, this.catalog.config.contextChars - (systemPrompt?.length ?? 0));
    const newestFirst = await this.generations.history({ roomId, replyId, maxChars: budget });
    const kept: ChatTurn[] = [];
    let used = 0;
    for (const turn of newestFirst) {
      if (kept.length > 0 && used + turn.content.length > budget) break;
      kept.push({ role: turn.role, content: turn.content });
      used += turn.content.length;
    }
    kept.reverse();
    return systemPrompt ? [{ role: 'system', content: systemPrompt }, ...kept] : kept;
  }

  async findOne(userId: string, id: string): Promise<GenerationWithContentDto> {
    this.catalog.assertEnabled();
    const state = await this.read(userId, id);
    if (!state) throw new NotFoundException('Generation not found');
    const local = this.registry.get(id);
    // While it runs here, memory is ahead of the stored text.
    const content = local && local.userId === userId ? local.state.content : state.content;
    return { ...(state.done?.generation ?? state.start.generation), content };
  }

  /** The current state rebuilt from the rows; null when it is not the caller's. */
  private async read(userId: string, id: string): Promise<StreamState | null> {
    const stored = await this.generations.read({ generationId: id, userId });
    return stored && storedState(stored);
  }

  async cancel(userId: string, id: string): Promise<GenerationResponseDto> {
    const generation: Partial<GenerationWithContentDto> = await this.stop(userId, id);
    delete generation.content;
    return generation as GenerationResponseDto;
  }

  private async stop(userId: string, id: string): Promise<GenerationWithContentDto> {
    this.catalog.assertEnabled();
    const state = await this.read(userId, id);
    if (!state) throw new NotFoundException('Generation not found');
    if (state.done) return this.findOne(userId, id);
    const local = this.registry.get(id);
    if (local) {
      local.cancel();
      await local.finished;
      // Its runner could not store the end: the smaller end is stored now, or this fails.
      if (local.endOwed) await this.registry.settle([id]);
      return this.findOne(userId, id);
    }
    // Another instance runs it: signal it, and wait for the end it stores.
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), CANCEL_WAIT_MS);
      const unwatch = this.registry.watch(id, () => {
        void this.read(userId, id).then(
          (s) => s?.done && finish(),
          () => undefined,
        );
      });
      const finish = () => {
        clearTimeout(timer);
        unwatch();
        resolve();
      };
    });
    await this.registry.publishCancel(id);
    await ended;
    // Nobody stopped it: its instance is gone. Stop it here with its stored text.
    await this.running.stopOrphan({ generationId: id });
    return this.findOne(userId, id);
  }

  /** 404 unless the generation is the caller's; the caller then opens the stream. */
  async assertReadable(userId: string, id: string): Promise<void> {
    this.catalog.assertEnabled();
    const stored = await this.generations.read({ generationId: id, userId });
    if (!stored) throw new NotFoundException('Generation not found');
  }

  /**
   * Sends the events after `after` to `sink` and follows live until `done` (then sink gets
   * null, as it does when the stream ends without one). From memory when this instance runs
   * it, else from the stored rows, re-read on every change signal once the sink has written
   * what it was given. Returns the function that stops following.
   */
  follow(userId: string, id: string, after: number, sink: Subscriber): () => void {
    const local = this.registry.get(id);
    if (local && local.userId === userId) return local.subscribe(after, sink);

    let sent = after;
    let stopped = false;
    let reading = false;
    let again = false;
    const read = async () => {
      if (stopped) return;
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          // A client still taking the last replay is not given the next (nor is it read):
          // a stream that does not read holds one state, not one per change.
          await sink.idle();
          if (stopped) return;
          again = false;
          const state = await this.read(userId, id).catch(() => undefined);
          if (stopped) return;
          if (state === null) return end(null);
          if (!state) continue;
          const replay = replayAfter(state, sent);
          if (replay.last > sent) sink.replay(replay.events);
          sent = replay.last;
          // Finished: everything after `after` is sent (nothing, if the client had it all).
          if (state.done) return end(null);
        } while (again && !stopped);
      } finally {
        reading = false;
      }
    };
    const unwatch = this.registry.watch(id, () => void read());
    const poll = setInterval(() => void read(), FOLLOW_POLL_MS);
    const end = (last?: null) => {
      if (stopped) return;
      stopped = true;
      unwatch();
      clearInterval(poll);
      if (last === null) sink.next(null);
    };
    void read();
    return () => end();
  }

  async usage(userId: string): Promise<UserUsageDto> {
    const today = await this.generations.usageToday({ userId });
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
