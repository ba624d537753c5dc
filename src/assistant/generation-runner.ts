import { Injectable, Logger } from '@nestjs/common';
import type { MessageStatus } from '../chat/entities/message.entity';
import { toMessage } from '../chat/message.mapper';
import type { GenerationErrorCode } from './entities/generation.entity';
import type { StreamState } from './generation-events';
import { GenerationContext } from './generation-context';
import { toGeneration } from './generation.mapper';
import { ModelCatalog } from './model-catalog';
import { ChatTurn, ModelAborted, ModelClient, ModelError } from './model-client';
import { DEFAULT_TITLE, RoomTitler } from './room-titler';
import { RunningGeneration, StopReason } from './running-generation';
import { RunningGenerationsRepository } from './running-generations.repository';

export const FINISH_ATTEMPTS = 5;
const CONTEXT_ATTEMPTS = 3;

class ContextUnavailable extends Error {
  override name = 'ContextUnavailable';
  constructor(override readonly cause: unknown) {
    super('The context could not be read');
  }
}

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

type Usage = { promptTokens: number; completionTokens: number };

/**
 * Runs a generation on the instance that started it, from the committed start to the terminal
 * write: reads its context, streams the model's reply into the RunningGeneration (which gives
 * each delta to its subscribers at once) under the idle timer, asks for the room's title, and
 * stores the end with the text no flush stored (GenerationFlusher stores it meanwhile). A
 * cancel, a timeout, the shutdown or the lost row stop it through the generation's abort
 * signal; an end it cannot store is owed (OwedEnds).
 */
@Injectable()
export class GenerationRunner {
  private readonly logger = new Logger('GenerationRunner');

  constructor(
    private readonly model: ModelClient,
    private readonly catalog: ModelCatalog,
    private readonly context: GenerationContext,
    private readonly titler: RoomTitler,
    private readonly repository: RunningGenerationsRepository,
  ) {}

  /** Starts the generation's loop at once; `finished` of what it returns tells its end. */
  run(init: { state: StreamState; userId: string; mayTitle: boolean }): RunningGeneration {
    const maxChars = this.catalog.config.replyMaxChars;
    return new RunningGeneration({ ...init, maxChars }, (generation) => this.loop(generation));
  }

  private async loop(generation: RunningGeneration): Promise<void> {
    const { idleTimeoutMs } = this.catalog.config;
    let idle: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => generation.halt('timeout'), idleTimeoutMs);
    };
    let context: ChatTurn[] = [];
    let finishReason: string | null = null;
    let usage: Usage | null = null;
    let failure: unknown = null;
    touch();
    try {
      context = await this.readContext(generation);
      const { model } = generation.state.start.generation;
      for await (const piece of this.model.stream(model, context, generation.signal, touch)) {
        if (piece.text !== undefined) generation.pushDelta(piece.text);
        if (piece.finishReason) finishReason = piece.finishReason;
        if (piece.usage) usage = piece.usage;
      }
    } catch (error) {
      if (!(error instanceof ModelAborted)) failure = error;
    } finally {
      clearTimeout(idle);
    }
    generation.endText();

    const outcome = outcomeOf(generation.stopReason, failure, finishReason);
    if (outcome === null) return generation.end(null);
    if (outcome.errorCode && failure instanceof ModelError) {
      // Code and status only: the provider's text never reaches a log.
      this.logger.warn({
        msg: 'Generation failed upstream',
        generationId: generation.id,
        code: outcome.errorCode,
        upstreamStatus: failure.status,
      });
    }
    const title =
      outcome.status === 'complete' ? await this.titler.title(generation, context) : null;
    usage ??= {
      promptTokens: estimateTokens(context.reduce((n, turn) => n + turn.content.length, 0)),
      completionTokens: estimateTokens(generation.state.content.length),
    };
    // Flushes went on during the title request (a kill -9 then still leaves the text).
    await generation.close();
    await this.finish(generation, outcome, finishReason, usage, title);
  }

  /**
   * The context, read again after a failure: in a burst of starts the database's connections
   * can all be taken for a moment (a pool timeout), and the reply is already accepted.
   */
  private async readContext(generation: RunningGeneration): Promise<ChatTurn[]> {
    const { chatRoomId, messageId } = generation.state.start.generation;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.context.load(chatRoomId, messageId);
      } catch (error) {
        if (attempt >= CONTEXT_ATTEMPTS || generation.stopReason) {
          throw new ContextUnavailable(error);
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  /**
   * The terminal write, retried while the database does not answer; after FINISH_ATTEMPTS the
   * end is owed (see OwedEnds).
   */
  private async finish(
    generation: RunningGeneration,
    outcome: Outcome,
    finishReason: string | null,
    usage: Usage,
    title: string | null,
  ): Promise<void> {
    const { text, lengths } = generation.unstored();
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await this.repository.finish({
          generationId: generation.id,
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
        if (!stored) return generation.end(null); // taken as an orphan meanwhile
        return generation.end({
          generation: toGeneration(stored.generation),
          message: toMessage(stored.reply),
          title: title !== null && stored.roomTitle === title ? title : null,
        });
      } catch (error) {
        this.logger.error({
          msg: 'Storing the end of a generation failed',
          generationId: generation.id,
          errType: (error as Error)?.name,
          attempt,
        });
        if (attempt >= FINISH_ATTEMPTS) {
          generation.endOwed = true;
          return generation.end(null);
        }
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }
}

/** About four characters a token: what is counted when the model reports no usage. */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}
