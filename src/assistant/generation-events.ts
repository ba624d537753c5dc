import type { MessageResponseDto } from '../chat/dto/message-response.dto';
import { toMessage } from '../chat/message.mapper';
import type { GenerationResponseDto, StartedGenerationDto } from './dto/generation-response.dto';
import { toGeneration } from './generation.mapper';
import type { StoredGeneration } from './generations.repository';

// What a generation's event stream is: its events, the state they are made from, and their
// replay after the client's last one. The same on the instance that runs it (from memory) and
// on any other (from the stored rows).

/** One event of a generation's stream: `id` is 1, 2, 3… within the generation. */
export interface GenerationEvent {
  id: number;
  event: 'start' | 'delta' | 'title' | 'done' | 'snapshot';
  data: unknown;
}

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
 * Everything a generation's event stream is made of. The running instance holds it in memory;
 * any other instance rebuilds it from the stored rows (text + delta lengths), so both give
 * the same events under the same ids.
 */
export interface StreamState {
  start: StartedGenerationDto;
  /** The text so far; delta i is the slice given by deltaLengths[i]. */
  content: string;
  deltaLengths: number[];
  /** The title event, if the reply gave its room a title. */
  title: string | null;
  /** The done event's payload once the generation has ended. */
  done: { generation: GenerationResponseDto; message: MessageResponseDto } | null;
}

/** The start event's payload: the generation and its reply as they were when it started. */
export function initialStart(
  generation: GenerationResponseDto,
  userMessage: MessageResponseDto | null,
  assistantMessage: MessageResponseDto,
): StartedGenerationDto {
  return {
    generation: {
      ...generation,
      status: 'streaming',
      finishReason: null,
      usage: null,
      error: null,
      finishedAt: null,
    },
    userMessage,
    assistantMessage: { ...assistantMessage, content: '', status: 'streaming' },
  };
}

/** The state as the rows store it: what any instance rebuilds the same events from. */
export function storedState({ generation, reply, userMessage }: StoredGeneration): StreamState {
  const current = toGeneration(generation);
  const message = toMessage(reply);
  const finished = generation.status !== 'streaming';
  return {
    start: initialStart(current, userMessage && toMessage(userMessage), message),
    content: reply.content,
    deltaLengths: generation.delta_lengths,
    title: finished ? generation.title : null,
    done: finished ? { generation: current, message } : null,
  };
}

/** The id the `done` event has (or will have once the deltas so far are all). */
export function lastEventId(state: StreamState): number {
  return 1 + state.deltaLengths.length + (state.title ? 1 : 0) + (state.done ? 1 : 0);
}

/** The events after the client's, built as they are written, and the id of the last. */
export interface Replay {
  events: Iterable<GenerationEvent>;
  /** The id of the last event of `events` (`after` when there is none). */
  last: number;
}

/**
 * The events after `after`, in order: start (1), one delta per stored delta, title, done.
 * When `after` is beyond what an interrupted generation stored (its instance died before
 * storing its last deltas, which the client had seen), one `snapshot` with the stored text
 * replaces what the client has, then `done`. The events are those of the state as it is now
 * (a runner goes on appending to it) and are made one at a time as they are taken: a stream
 * writes a long reply only as fast as its client reads it.
 */
export function replayAfter(state: StreamState, after: number): Replay {
  const { start, content, title, done } = state;
  const deltas = state.deltaLengths.length;
  const lengths = state.deltaLengths;
  const doneId = 1 + deltas + (title ? 1 : 0) + 1;
  const snapshot =
    done !== null && after >= doneId && done.generation.error?.code === 'interrupted';
  const last = snapshot ? after + 2 : Math.max(after, lastEventId(state));
  function* events(): Generator<GenerationEvent> {
    if (after < 1) yield { id: 1, event: 'start', data: start };
    let id = 1;
    let offset = 0;
    for (let i = 0; i < deltas; i++) {
      id += 1;
      if (id > after) {
        yield { id, event: 'delta', data: { text: content.slice(offset, offset + lengths[i]) } };
      }
      offset += lengths[i];
    }
    if (title) {
      id += 1;
      if (id > after) yield { id, event: 'title', data: { title } };
    }
    if (done) {
      id += 1;
      if (snapshot) {
        yield { id: after + 1, event: 'snapshot', data: { content } };
        yield { id: after + 2, event: 'done', data: done };
      } else if (id > after) {
        yield { id, event: 'done', data: done };
      }
    }
  }
  return { events: events(), last };
}

/** replayAfter's events as an array. */
export function eventsAfter(state: StreamState, after: number): GenerationEvent[] {
  return [...replayAfter(state, after).events];
}
