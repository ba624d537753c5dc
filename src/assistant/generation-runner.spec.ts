import type { LlmConfig } from '../config/llm.config';
import type { Sql } from '../database/sql.service';
import type { StreamState } from './generation-events';
import { FINISH_ATTEMPTS, GenerationRunner } from './generation-runner';
import { SQL } from './generation-statements';
import type { ChatTurn, ModelClient, StreamPiece } from './model-client';

const createdAt = '2026-01-01T00:00:00.000Z';

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
      },
    },
    content: '',
    deltaLengths: [],
    title: null,
    done: null,
  };
}

describe('GenerationRunner', () => {
  it('reads the context again after a failure: the accepted reply is written, not failed', async () => {
    const rows = jest.fn((): Promise<unknown[]> => Promise.resolve([]));
    const pieces: StreamPiece[] = [{ text: 'Hi' }, { finishReason: 'stop' }];
    const model = { stream: () => pieces.values() };
    const loadContext = jest
      .fn<Promise<ChatTurn[]>, []>()
      .mockRejectedValueOnce(new Error('timeout exceeded when trying to connect'))
      .mockResolvedValue([{ role: 'user', content: 'hello' }]);
    const runner = new GenerationRunner(
      {
        sql: { rows } as unknown as Sql,
        model: model as unknown as ModelClient,
        config: { idleTimeoutMs: 60_000, autoTitle: false } as LlmConfig,
      },
      { state: state(), userId: 'u', loadContext, mayTitle: false },
    );
    await runner.finished;
    expect(loadContext).toHaveBeenCalledTimes(2);
    const finish = rows.mock.calls.find((call) => (call as unknown[])[0] === SQL.finish) as
      unknown[] | undefined;
    // The terminal write: status complete, no error code, the whole text.
    const values = finish![1] as unknown[];
    expect([values[1], values[5], values[6]]).toEqual(['complete', null, 'Hi']);
  });

  /** A runner over `pieces`, with `rows` as the database. */
  function runner(
    pieces: StreamPiece[],
    rows: jest.Mock<Promise<unknown[]>>,
    config: Partial<LlmConfig> = {},
  ) {
    const signals: AbortSignal[] = [];
    const model = {
      stream: (_model: string, _context: ChatTurn[], signal: AbortSignal) => {
        signals.push(signal);
        return pieces.values();
      },
    };
    const r = new GenerationRunner(
      {
        sql: { rows } as unknown as Sql,
        model: model as unknown as ModelClient,
        config: {
          idleTimeoutMs: 60_000,
          autoTitle: false,
          replyMaxChars: 100_000,
          ...config,
        } as LlmConfig,
      },
      { state: state(), userId: 'u', loadContext: () => Promise.resolve([]), mayTitle: false },
    );
    return { runner: r, signals };
  }
  const finishValues = (rows: jest.Mock) =>
    (
      rows.mock.calls.find((call) => (call as unknown[])[0] === SQL.finish) as unknown[]
    )[1] as unknown[];

  it('keeps a reply up to LLM_REPLY_MAX_CHARS exactly, stops the model and fails it as too_long', async () => {
    const rows = jest.fn((): Promise<unknown[]> => Promise.resolve([]));
    const { runner: r, signals } = runner(
      [{ text: 'abc' }, { text: 'defg' }, { text: 'h' }, { finishReason: 'stop' }],
      rows,
      { replyMaxChars: 5 },
    );
    await r.finished;
    expect(signals[0].aborted).toBe(true);
    expect(r.state.content).toBe('abcde');
    const values = finishValues(rows);
    expect([values[1], values[2], values[5], values[6]]).toEqual([
      'failed',
      null,
      'too_long',
      'abcde',
    ]);
  });

  it('never splits a surrogate pair at the cap', async () => {
    const rows = jest.fn((): Promise<unknown[]> => Promise.resolve([]));
    const { runner: r } = runner([{ text: 'abcd😀' }, { finishReason: 'stop' }], rows, {
      replyMaxChars: 5,
    });
    await r.finished;
    expect(r.state.content).toBe('abcd');
    expect(finishValues(rows)[5]).toBe('too_long');
  });

  it('a reply of exactly the cap completes', async () => {
    const rows = jest.fn((): Promise<unknown[]> => Promise.resolve([]));
    const { runner: r } = runner([{ text: 'abcde' }, { finishReason: 'stop' }], rows, {
      replyMaxChars: 5,
    });
    await r.finished;
    expect(finishValues(rows)[1]).toBe('complete');
  });

  it('owes its end to the registry when no attempt to store it succeeds', async () => {
    jest.useFakeTimers();
    try {
      const rows = jest.fn((): Promise<unknown[]> =>
        Promise.reject(new Error('canceling statement due to statement timeout')),
      );
      const { runner: r } = runner([{ text: 'Hi' }, { finishReason: 'stop' }], rows);
      let done = false;
      void r.finished.then(() => (done = true));
      while (!done) await jest.advanceTimersByTimeAsync(1000);
      expect(rows.mock.calls.filter((call) => (call as unknown[])[0] === SQL.finish)).toHaveLength(
        FINISH_ATTEMPTS,
      );
      expect(r.endOwed).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});
