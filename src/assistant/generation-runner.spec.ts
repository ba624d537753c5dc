import type { LlmConfig } from '../config/llm.config';
import type { Sql } from '../database/sql.service';
import type { StreamState } from './generation-events';
import { GenerationRunner } from './generation-runner';
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
});
