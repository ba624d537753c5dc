import { eventsAfter, StreamState } from './generation-events';
import { cleanTitle } from './room-titler';

const generation = {
  id: 'g',
  chatRoomId: 'r',
  messageId: 'm',
  status: 'streaming' as const,
  model: 'model',
  finishReason: null,
  usage: null,
  error: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  finishedAt: null,
};
const message = {
  id: 'm',
  chatRoomId: 'r',
  role: 'assistant' as const,
  content: '',
  createdAt: '2026-01-01T00:00:00.000Z',
  status: 'streaming' as const,
  model: 'model',
  generationId: 'g',
  parentId: null,
  siblingIds: ['m'],
};

function state(overrides: Partial<StreamState> = {}): StreamState {
  return {
    start: { generation, userMessage: null, assistantMessage: message },
    content: 'Hello, wörld 😀!',
    deltaLengths: [5, 2, 6, 2, 1],
    title: null,
    done: null,
    ...overrides,
  };
}

describe('eventsAfter', () => {
  it('rebuilds start and one delta per stored length, ids 1..n', () => {
    const events = eventsAfter(state(), 0);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      [1, 'start'],
      [2, 'delta'],
      [3, 'delta'],
      [4, 'delta'],
      [5, 'delta'],
      [6, 'delta'],
    ]);
    expect(events.slice(1).map((e) => (e.data as { text: string }).text)).toEqual([
      'Hello',
      ', ',
      'wörld ',
      '😀',
      '!',
    ]);
  });

  it('sends only what comes after n, then title and done', () => {
    const done = { generation: { ...generation, status: 'complete' as const }, message };
    const events = eventsAfter(state({ title: 'T', done }), 4);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      [5, 'delta'],
      [6, 'delta'],
      [7, 'title'],
      [8, 'done'],
    ]);
    expect(eventsAfter(state({ title: 'T', done }), 8)).toEqual([]);
  });

  it('waits (sends nothing) when n is ahead of a running generation’s stored deltas', () => {
    expect(eventsAfter(state(), 9)).toEqual([]);
  });

  it('replaces unstored events of an interrupted generation with a snapshot, then done', () => {
    const interrupted = {
      generation: {
        ...generation,
        status: 'failed' as const,
        error: { code: 'interrupted' as const, message: 'x' },
      },
      message,
    };
    const events = eventsAfter(state({ done: interrupted }), 12);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      [13, 'snapshot'],
      [14, 'done'],
    ]);
    expect(events[0].data).toEqual({ content: 'Hello, wörld 😀!' });
  });
});

describe('cleanTitle', () => {
  it.each([
    ['"Trip to Lisbon."', 'Trip to Lisbon'],
    ['Title: Foxes\n', 'Foxes'],
    ['  **Bold**  ', 'Bold'],
    ['', null],
    [null, null],
    ['""', null],
  ])('%j → %j', (answer, title) => {
    expect(cleanTitle(answer)).toBe(title);
  });

  it('keeps at most 60 characters', () => {
    const title = cleanTitle('ab '.repeat(40))!;
    expect([...title].length).toBeLessThanOrEqual(60);
    expect(title.endsWith('…')).toBe(true);
  });
});
