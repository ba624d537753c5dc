import type { LlmConfig } from '../config/llm.config';
import type { GenerationContext } from './generation-context';
import type { StreamState } from './generation-events';
import { FINISH_ATTEMPTS, GenerationRunner } from './generation-runner';
import type { ModelCatalog } from './model-catalog';
import type { ChatTurn, ModelClient, StreamPiece } from './model-client';
import type { RoomTitler } from './room-titler';
import type {
  FinishedGeneration,
  FinishParams,
  RunningGenerationsRepository,
} from './running-generations.repository';

const createdAt = '2026-01-01T00:00:00.000Z';

/** The terminal write of the database: `answer` for every attempt. */
const finishing = (
  answer: () => Promise<FinishedGeneration | null> = () => Promise.resolve(null),
) => jest.fn((_params: FinishParams) => answer());

function state(): StreamState {
  return {
    start: {
      generation: {
        id: 'g',
        chatRoomId: 'r',
        messageId: 'm',
        status: 'streaming',
        model: 'model',
        finishReason: null,
        usage: null,
        error: null,
        createdAt,
        finishedAt: null,
      },
      userMessage: null,
      assistantMessage: {
        id: 'm',
        chatRoomId: 'r',
        role: 'assistant',
        content: '',
        createdAt,
        status: 'streaming',
        model: 'model',
        generationId: 'g',
        parentId: null,
        siblingIds: ['m'],
      },
    },
    content: '',
    deltaLengths: [],
    title: null,
    done: null,
  };
}

/** A runner with these collaborators (no title is asked for). */
function runnerOf(parts: {
  model: object;
  finish: ReturnType<typeof finishing>;
  load: () => Promise<ChatTurn[]>;
  config: Partial<LlmConfig>;
}): GenerationRunner {
  return new GenerationRunner(
    parts.model as ModelClient,
    { config: { idleTimeoutMs: 60_000, autoTitle: false, ...parts.config } } as ModelCatalog,
    { load: parts.load } as unknown as GenerationContext,
    { title: () => Promise.resolve(null) } as unknown as RoomTitler,
    { finish: parts.finish } as unknown as RunningGenerationsRepository,
  );
}

describe('GenerationRunner', () => {
  it('reads the context again after a failure: the accepted reply is written, not failed', async () => {
    const finish = finishing();
    const pieces: StreamPiece[] = [{ text: 'Hi' }, { finishReason: 'stop' }];
    const model = { stream: () => pieces.values() };
    const loadContext = jest
      .fn<Promise<ChatTurn[]>, []>()
      .mockRejectedValueOnce(new Error('timeout exceeded when trying to connect'))
      .mockResolvedValue([{ role: 'user', content: 'hello' }]);
    const runner = runnerOf({ model, finish, load: loadContext, config: {} });
    await runner.run({ state: state(), userId: 'u', mayTitle: false }).finished;
    expect(loadContext).toHaveBeenCalledTimes(2);
    // The terminal write: status complete, no error code, the whole text.
    expect(finish).toHaveBeenCalledTimes(1);
    expect(finish.mock.calls[0][0]).toMatchObject({
      status: 'complete',
      errorCode: null,
      text: 'Hi',
    });
  });

  /** A runner over `pieces`, with `finish` as the terminal write. */
  function runner(
    pieces: StreamPiece[],
    finish: ReturnType<typeof finishing>,
    config: Partial<LlmConfig> = {},
  ) {
    const signals: AbortSignal[] = [];
    const model = {
      stream: (_model: string, _context: ChatTurn[], signal: AbortSignal) => {
        signals.push(signal);
        return pieces.values();
      },
    };
    const r = runnerOf({
      model,
      finish,
      load: () => Promise.resolve([]),
      config: { replyMaxChars: 100_000, ...config },
    });
    return { runner: r.run({ state: state(), userId: 'u', mayTitle: false }), signals };
  }
  const finished = (finish: ReturnType<typeof finishing>) => finish.mock.calls[0][0];

  it('keeps a reply up to LLM_REPLY_MAX_CHARS exactly, stops the model and fails it as too_long', async () => {
    const finish = finishing();
    const { runner: r, signals } = runner(
      [{ text: 'abc' }, { text: 'defg' }, { text: 'h' }, { finishReason: 'stop' }],
      finish,
      { replyMaxChars: 5 },
    );
    await r.finished;
    expect(signals[0].aborted).toBe(true);
    expect(r.state.content).toBe('abcde');
    expect(finished(finish)).toMatchObject({
      status: 'failed',
      finishReason: null,
      errorCode: 'too_long',
      text: 'abcde',
    });
  });

  it('never splits a surrogate pair at the cap', async () => {
    const finish = finishing();
    const { runner: r } = runner([{ text: 'abcd😀' }, { finishReason: 'stop' }], finish, {
      replyMaxChars: 5,
    });
    await r.finished;
    expect(r.state.content).toBe('abcd');
    expect(finished(finish).errorCode).toBe('too_long');
  });

  it('a reply of exactly the cap completes', async () => {
    const finish = finishing();
    const { runner: r } = runner([{ text: 'abcde' }, { finishReason: 'stop' }], finish, {
      replyMaxChars: 5,
    });
    await r.finished;
    expect(finished(finish).status).toBe('complete');
  });

  it('owes its end (OwedEnds) when no attempt to store it succeeds', async () => {
    jest.useFakeTimers();
    try {
      const finish = finishing(() =>
        Promise.reject(new Error('canceling statement due to statement timeout')),
      );
      const { runner: r } = runner([{ text: 'Hi' }, { finishReason: 'stop' }], finish);
      let done = false;
      void r.finished.then(() => (done = true));
      while (!done) await jest.advanceTimersByTimeAsync(1000);
      expect(finish).toHaveBeenCalledTimes(FINISH_ATTEMPTS);
      expect(r.endOwed).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});
