import { Logger } from '@nestjs/common';
import type { MessageStatus } from '../chat/entities/message.entity';
import type { LlmConfig } from '../config/llm.config';
import { toMessage } from '../chat/message.mapper';
import type { GenerationErrorCode } from './entities/generation.entity';
import { GenerationEvent, lastEventId, replayAfter, StreamState } from './generation-events';
import { toGeneration } from './generation.mapper';
import type {
  FinishedGeneration,
  PendingText,
  RunningGenerationsRepository,
} from './running-generations.repository';
import { ChatTurn, ModelAborted, ModelClient, ModelError } from './model-client';

const TITLE_TIMEOUT_MS = 15_000;
const MAX_TITLE_LENGTH = 60;
export const FINISH_ATTEMPTS = 5;
const CONTEXT_ATTEMPTS = 3;

class ContextUnavailable extends Error {
  override name = 'ContextUnavailable';
  constructor(override readonly cause: unknown) {
    super('The context could not be read');
  }
}

/** Why the runner aborted the model request. */
type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost' | 'too_long';

/** How the reply ended: the generation's (and its message's) terminal status. */
interface Outcome {
  status: Exclude<MessageStatus, 'streaming'>;
  errorCode: GenerationErrorCode | null;
}

/**
 * The transitions of a generation, in one place: streaming → complete (the model finished),
 * stopped (cancel), failed (upstream failure, idle timeout, shutdown); a generation that lost
 * its row to an orphan sweep stops without writing (null).
 */
function outcomeOf(
  stop: StopReason | null,
  error: unknown,
  finishReason: string | null,
): Outcome | null {
  if (stop === 'lost') return null;
  if (stop === 'cancel') return { status: 'stopped', errorCode: null };
  if (stop === 'timeout') return { status: 'failed', errorCode: 'upstream_timeout' };
  if (stop === 'shutdown') return { status: 'failed', errorCode: 'interrupted' };
  if (stop === 'too_long') return { status: 'failed', errorCode: 'too_long' };
  if (error instanceof ModelError) return { status: 'failed', errorCode: error.code };
  // The database failed before the model was asked: nothing upstream is to blame.
  if (error instanceof ContextUnavailable) return { status: 'failed', errorCode: 'interrupted' };
  if (error) return { status: 'failed', errorCode: 'upstream_error' };
  if (!finishReason) return { status: 'failed', errorCode: 'upstream_truncated' };
  return { status: 'complete', errorCode: null };
}

export interface RunnerDeps {
  repository: RunningGenerationsRepository;
  model: ModelClient;
  config: LlmConfig;
}

export interface RunnerInit {
  state: StreamState;
  userId: string;
  /** Read by the runner itself, so that a failure to read it still ends the generation. */
  loadContext: () => Promise<ChatTurn[]>;
  /** The room was "New chat" without a completed reply when the generation started. */
  mayTitle: boolean;
}

/** A runner's deltas not stored yet, for the registry's batched flush. */
export type PendingFlush = PendingText;

/** Gets every event in order: first the replay of those so far, then each as it happens. */
export interface Subscriber {
  /** The events so far after the client's, made as they are taken (see replayAfter). */
  replay(events: Iterable<GenerationEvent>): void;
  /** The next event; null when the stream ends (after a `done`, or without one). */
  next(event: GenerationEvent | null): void;
  /** Resolves once everything given so far is written out (followers of stored rows wait). */
  idle(): Promise<void>;
}

/**
 * Owns one generation on the instance that started it: the model stream in, deltas out to
 * subscribers at once, the cancel and idle timers, and the terminal write. The registry
 * stores its deltas meanwhile, with those of every other runner here, in one statement per
 * interval. Requests only start it, read it or signal it.
 */
export class GenerationRunner {
  private readonly logger = new Logger('GenerationRunner');
  readonly id: string;
  readonly userId: string;
  readonly state: StreamState;
  private readonly abort = new AbortController();
  private stop: StopReason | null = null;
  private readonly subscribers = new Set<Subscriber>();
  private flushedDeltas = 0;
  private flushedChars = 0;
  /** The registry's flush carrying deltas of this runner, while one is under way. */
  private flushing: Promise<void> | null = null;
  /** The terminal write is being prepared: from here on it stores the rest. */
  private closing = false;
  /** A high surrogate at the end of a delta waits for its other half (the next delta). */
  private carry = '';
  /** The reply reached LLM_REPLY_MAX_CHARS: nothing more is kept. */
  private capped = false;
  private context: ChatTurn[] = [];
  /** The loop is over (with or without a terminal write). */
  private ended = false;
  /**
   * The terminal write failed every attempt: the row is still streaming under this live
   * instance, and the registry must end it (failed/interrupted) for the room to be free.
   */
  endOwed = false;
  /** Resolves when the generation has ended and its terminal state is stored (or owed). */
  readonly finished: Promise<void>;

  constructor(
    private readonly deps: RunnerDeps,
    private readonly init: RunnerInit,
  ) {
    this.id = init.state.start.generation.id;
    this.userId = init.userId;
    this.state = init.state;
    this.finished = this.run();
  }

  get running(): boolean {
    return this.state.done === null;
  }

  /**
   * Gives the events after `after` as a replay, then every new one as it happens, up to
   * `done`. Returns the unsubscribe function.
   */
  subscribe(after: number, subscriber: Subscriber): () => void {
    subscriber.replay(replayAfter(this.state, after).events);
    if (this.ended) {
      subscriber.next(null);
      return () => undefined;
    }
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  cancel(): void {
    this.halt('cancel');
  }

  /** SIGTERM with time up: store everything streamed so far as failed/interrupted. */
  interrupt(): void {
    this.halt('shutdown');
  }

  private halt(reason: StopReason): void {
    if (this.stop || !this.running) return;
    this.stop = reason;
    this.abort.abort();
  }

  private emit(event: GenerationEvent): void {
    for (const subscriber of this.subscribers) subscriber.next(event);
  }

  private pushDelta(raw: string): void {
    if (this.capped) return;
    let text = this.carry + raw;
    this.carry = '';
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      this.carry = text.slice(-1);
      text = text.slice(0, -1);
    }
    // PostgreSQL text holds neither NUL nor lone surrogates; same length, so offsets hold.
    text = text.toWellFormed().replaceAll('\u0000', '\ufffd');
    const room = this.deps.config.replyMaxChars - this.state.content.length;
    if (text.length > room) {
      // Up to the cap exactly, unless that would split a surrogate pair; the rest is dropped
      // and the model stopped.
      const cut = text.charCodeAt(room - 1);
      text = text.slice(0, cut >= 0xd800 && cut <= 0xdbff ? room - 1 : room);
      this.carry = '';
      this.capped = true;
      this.halt('too_long');
    }
    if (text === '') return;
    this.state.content += text;
    this.state.deltaLengths.push(text.length);
    this.emit({
      id: 1 + this.state.deltaLengths.length,
      event: 'delta',
      data: { text },
    });
  }

  private async run(): Promise<void> {
    const { config, model } = this.deps;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => this.halt('timeout'), config.idleTimeoutMs);
    };
    let finishReason: string | null = null;
    let usage: { promptTokens: number; completionTokens: number } | null = null;
    let failure: unknown = null;
    touch();
    try {
      this.context = await this.readContext();
      const modelId = this.state.start.generation.model;
      for await (const piece of model.stream(modelId, this.context, this.abort.signal, touch)) {
        if (piece.text !== undefined) this.pushDelta(piece.text);
        if (piece.finishReason) finishReason = piece.finishReason;
        if (piece.usage) usage = piece.usage;
      }
    } catch (error) {
      if (!(error instanceof ModelAborted)) failure = error;
    } finally {
      clearTimeout(idle);
    }
    if (this.carry) {
      this.carry = '';
      this.pushDelta('\ufffd');
    }

    const outcome = outcomeOf(this.stop, failure, finishReason);
    if (outcome === null) return this.end(null);
    if (outcome.errorCode && failure instanceof ModelError) {
      // Code and status only: the provider's text never reaches a log.
      this.logger.warn({
        msg: 'Generation failed upstream',
        generationId: this.id,
        code: outcome.errorCode,
        upstreamStatus: failure.status,
      });
    }
    const title = outcome.status === 'complete' ? await this.title() : null;
    usage ??= {
      promptTokens: estimateTokens(this.context.reduce((n, turn) => n + turn.content.length, 0)),
      completionTokens: estimateTokens(this.state.content.length),
    };
    // Flushes went on during the title request (a kill -9 then still leaves the text).
    this.closing = true;
    await this.flushing;
    await this.finish(outcome, finishReason, usage, title);
  }

  /**
   * The context, read again after a failure: in a burst of starts the database's connections
   * can all be taken for a moment (a pool timeout), and the reply is already accepted.
   */
  private async readContext(): Promise<ChatTurn[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.init.loadContext();
      } catch (error) {
        if (attempt >= CONTEXT_ATTEMPTS || this.stop) throw new ContextUnavailable(error);
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /**
   * The deltas not stored yet, for the registry's next flush; null when there are none, a
   * flush of this runner is still under way, or the terminal write will store them.
   */
  pendingFlush(): PendingFlush | null {
    const count = this.state.deltaLengths.length - this.flushedDeltas;
    if (count === 0 || this.flushing || this.closing || !this.running) return null;
    return {
      id: this.id,
      text: this.state.content.slice(this.flushedChars),
      lengths: this.state.deltaLengths.slice(this.flushedDeltas),
    };
  }

  /**
   * `stored` is the registry's flush of `pending` (resolving to the generations it stored):
   * on success the deltas count as stored; a generation not stored is no longer streaming
   * (taken as an orphan) and the runner stops; on failure the next flush tries again.
   */
  flushedBy(stored: Promise<Set<string>>, pending: PendingFlush): void {
    this.flushing = stored.then(
      (ids) => {
        this.flushing = null;
        if (!ids.has(this.id)) return this.halt('lost');
        this.flushedDeltas += pending.lengths.length;
        this.flushedChars += pending.text.length;
      },
      () => {
        this.flushing = null;
      },
    );
  }

  /**
   * The terminal write, retried while the database does not answer; after FINISH_ATTEMPTS the
   * end is owed to the registry.
   */
  private async finish(
    outcome: Outcome,
    finishReason: string | null,
    usage: { promptTokens: number; completionTokens: number },
    title: string | null,
  ): Promise<void> {
    const lengths = this.state.deltaLengths.slice(this.flushedDeltas);
    const text = this.state.content.slice(this.flushedChars);
    for (let attempt = 1; ; attempt++) {
      try {
        const row = await this.deps.repository.finish({
          generationId: this.id,
          status: outcome.status,
          finishReason: outcome.status === 'complete' ? finishReason : null,
          promptTokens: usage.promptTokens,
          completionTokens: usage.completionTokens,
          errorCode: outcome.errorCode,
          text,
          lengths,
          title,
          defaultTitle: DEFAULT_TITLE,
        });
        if (!row) return this.end(null); // taken as an orphan meanwhile
        this.flushedDeltas = this.state.deltaLengths.length;
        this.flushedChars = this.state.content.length;
        const given = title !== null && row.roomTitle === title ? title : null;
        return this.end({ row, title: given });
      } catch (error) {
        this.logger.error({
          msg: 'Storing the end of a generation failed',
          generationId: this.id,
          errType: (error as Error)?.name,
          attempt,
        });
        if (attempt >= FINISH_ATTEMPTS) {
          // The registry ends it with the text already stored (see GenerationRegistry.settle).
          this.endOwed = true;
          return this.end(null);
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  private end(result: { row: FinishedGeneration; title: string | null } | null): void {
    this.ended = true;
    if (result) {
      if (result.title) {
        this.state.title = result.title;
        this.emit({
          id: 2 + this.state.deltaLengths.length,
          event: 'title',
          data: { title: result.title },
        });
      }
      this.state.done = {
        generation: toGeneration(result.row.generation),
        message: toMessage(result.row.reply),
      };
      this.emit({ id: lastEventId(this.state), event: 'done', data: this.state.done });
    }
    // Without a terminal write (lost, or the database gone) subscribers are told the stream
    // ends here; a client that resumes reads the stored state.
    for (const subscriber of this.subscribers) subscriber.next(null);
    this.subscribers.clear();
  }

  /** A short title for a "New chat" room after its first completed reply; null on any failure. */
  private async title(): Promise<string | null> {
    if (!this.deps.config.autoTitle || !this.init.mayTitle) return null;
    const firstUser = this.context.find((turn) => turn.role === 'user')?.content ?? '';
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(TITLE_TIMEOUT_MS)]);
    const answer = await this.deps.model.complete(
      this.state.start.generation.model,
      [
        {
          role: 'system',
          content:
            'Write a title of at most six words for the conversation below. Answer with the title only, without quotes.',
        },
        {
          role: 'user',
          content: `${firstUser.slice(0, 2000)}\n\n${this.state.content.slice(0, 2000)}`,
        },
      ],
      signal,
      24,
    );
    return cleanTitle(answer);
  }
}

export const DEFAULT_TITLE = 'New chat';

export function cleanTitle(answer: string | null): string | null {
  if (!answer) return null;
  let title = answer
    .replace(/[\r\n]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^["'“”‘’«»`*#\s]+|["'“”‘’«»`*\s.]+$/g, '')
    .replace(/^title:\s*/i, '');
  title = title.toWellFormed().replaceAll('\u0000', '');
  if ([...title].length > MAX_TITLE_LENGTH) {
    title =
      [...title]
        .slice(0, MAX_TITLE_LENGTH - 1)
        .join('')
        .trimEnd() + '…';
  }
  return title === '' ? null : title;
}

/** About four characters a token: what is counted when the model reports no usage. */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}
