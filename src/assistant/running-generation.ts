import type { GenerationResponseDto } from './dto/generation-response.dto';
import type { MessageResponseDto } from '../chat/dto/message-response.dto';
import {
  GenerationEvent,
  lastEventId,
  replayAfter,
  StreamState,
  Subscriber,
} from './generation-events';
import type { PendingText } from './running-generations.repository';

/** Why the model request was aborted. */
export type StopReason = 'cancel' | 'timeout' | 'shutdown' | 'lost' | 'too_long';

export interface RunningGenerationInit {
  state: StreamState;
  userId: string;
  /** The room was "New chat" without a completed reply when the generation started. */
  mayTitle: boolean;
  /** LLM_REPLY_MAX_CHARS: past it nothing more is kept and the model is stopped. */
  maxChars: number;
}

/**
 * One generation running on this instance, in memory: its events so far, given at once to its
 * subscribers (the event streams following it here), why it was stopped, and how much of its
 * text is stored. GenerationRunner drives it (see there), GenerationRegistry keeps it,
 * GenerationFlusher stores its text meanwhile, requests read it, follow it or cancel it.
 */
export class RunningGeneration {
  readonly id: string;
  readonly userId: string;
  readonly state: StreamState;
  readonly mayTitle: boolean;
  private readonly maxChars: number;
  /** Aborts the model's requests (the reply's and the title's). */
  private readonly abort = new AbortController();
  private stop: StopReason | null = null;
  private readonly subscribers = new Set<Subscriber>();
  private flushedDeltas = 0;
  private flushedChars = 0;
  /** The flush carrying deltas of this generation, while one is under way. */
  private flushing: Promise<void> | null = null;
  /** The terminal write is being prepared: from here on it stores the rest. */
  private closing = false;
  /** A high surrogate at the end of a delta waits for its other half (the next delta). */
  private carry = '';
  /** The reply reached maxChars: nothing more is kept. */
  private capped = false;
  /** Over (with or without a terminal write). */
  private ended = false;
  /**
   * The terminal write failed every attempt: the row is still streaming under this live
   * instance, and OwedEnds must end it (failed/interrupted) for the room to be free.
   */
  endOwed = false;
  /** Resolves when the generation has ended and its terminal state is stored (or owed). */
  readonly finished: Promise<void>;

  /** `run` is the loop that drives it, started at once. */
  constructor(init: RunningGenerationInit, run: (generation: RunningGeneration) => Promise<void>) {
    this.id = init.state.start.generation.id;
    this.userId = init.userId;
    this.state = init.state;
    this.mayTitle = init.mayTitle;
    this.maxChars = init.maxChars;
    this.finished = run(this);
  }

  get running(): boolean {
    return this.state.done === null;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get stopReason(): StopReason | null {
    return this.stop;
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

  /** Stops the model (once: the first reason is the one that counts). */
  halt(reason: StopReason): void {
    if (this.stop || !this.running) return;
    this.stop = reason;
    this.abort.abort();
  }

  private emit(event: GenerationEvent): void {
    for (const subscriber of this.subscribers) subscriber.next(event);
  }

  /** Appends the model's next piece of text, and gives it to the subscribers as a delta. */
  pushDelta(raw: string): void {
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
    const room = this.maxChars - this.state.content.length;
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

  /** The model is done: a high surrogate still waiting for its other half becomes U+FFFD. */
  endText(): void {
    if (!this.carry) return;
    this.carry = '';
    this.pushDelta('\ufffd');
  }

  /**
   * The deltas not stored yet, for the next flush; null when there are none, a flush of this
   * generation is still under way, or the terminal write will store them.
   */
  pendingFlush(): PendingText | null {
    const count = this.state.deltaLengths.length - this.flushedDeltas;
    if (count === 0 || this.flushing || this.closing || !this.running) return null;
    return {
      id: this.id,
      text: this.state.content.slice(this.flushedChars),
      lengths: this.state.deltaLengths.slice(this.flushedDeltas),
    };
  }

  /**
   * `stored` is the flush of `pending` (resolving to the generations it stored): on success
   * the deltas count as stored; a generation not stored is no longer streaming (taken as an
   * orphan) and stops; on failure the next flush tries again.
   */
  flushedBy(stored: Promise<Set<string>>, pending: PendingText): void {
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

  /** No flush from here on; resolves once one under way is over. The end stores the rest. */
  async close(): Promise<void> {
    this.closing = true;
    await this.flushing;
  }

  /** What the terminal write must store: the text and deltas no flush stored. */
  unstored(): { text: string; lengths: number[] } {
    return {
      text: this.state.content.slice(this.flushedChars),
      lengths: this.state.deltaLengths.slice(this.flushedDeltas),
    };
  }

  /**
   * The generation is over. With its stored end: its title and `done` events; without one
   * (lost, or the database gone) subscribers are told the stream ends here, and a client that
   * resumes reads the stored state.
   */
  end(
    stored: {
      generation: GenerationResponseDto;
      message: MessageResponseDto;
      title: string | null;
    } | null,
  ): void {
    this.ended = true;
    if (stored) {
      this.flushedDeltas = this.state.deltaLengths.length;
      this.flushedChars = this.state.content.length;
      if (stored.title) {
        this.state.title = stored.title;
        this.emit({
          id: 2 + this.state.deltaLengths.length,
          event: 'title',
          data: { title: stored.title },
        });
      }
      this.state.done = { generation: stored.generation, message: stored.message };
      this.emit({ id: lastEventId(this.state), event: 'done', data: this.state.done });
    }
    for (const subscriber of this.subscribers) subscriber.next(null);
    this.subscribers.clear();
  }
}
