import fc from 'fast-check';
import { mapExportRoom } from './export-room.mapper';
import { type MappedConversation, isFailedConversation } from './mapped-conversation';

const ROOM = '3f0c6a52-7d1e-4b7a-9a43-2b8f1f0e9c11';
const M1 = '0a8d1c7e-5b7e-4f8e-8f3c-1d2e3f4a5b01';
const M2 = '0a8d1c7e-5b7e-4f8e-8f3c-1d2e3f4a5b02';
const M3 = '0a8d1c7e-5b7e-4f8e-8f3c-1d2e3f4a5b03';
const M4 = '0a8d1c7e-5b7e-4f8e-8f3c-1d2e3f4a5b04';

type ExportedMessage = Record<string, unknown>;
type ExportedRoom = Record<string, unknown> & { messages: ExportedMessage[] };

/** A room as our export writes it: a question, two replies (a regenerate), a follow-up. */
function exportedRoom(): ExportedRoom {
  return {
    id: ROOM,
    title: 'Sourdough',
    createdAt: '2026-01-31T12:00:00.000Z',
    updatedAt: '2026-01-31T12:05:00.000Z',
    model: 'llama3.1',
    systemPrompt: 'Answer briefly.',
    activeMessageId: M2,
    messages: [
      m(M1, null, 'user', 'What is a levain?', 'complete', null, '2026-01-31T12:00:01.000Z'),
      m(
        M2,
        M1,
        'assistant',
        'A starter build.',
        'complete',
        'llama3.1',
        '2026-01-31T12:00:02.000Z',
      ),
      m(M3, M1, 'assistant', 'A pre-ferment', 'stopped', 'llama3.1', '2026-01-31T12:01:00.000Z'),
      m(M4, M2, 'user', 'How long?', 'complete', null, '2026-01-31T12:02:00.000Z'),
    ],
  };
}

function m(
  id: string,
  parentId: string | null,
  role: string,
  content: string,
  status: string,
  model: string | null,
  createdAt: string,
) {
  return { id, parentId, role, content, status, model, createdAt };
}

function mapped(value: unknown): MappedConversation {
  const result = mapExportRoom(value);
  if (isFailedConversation(result)) throw new Error(`failed: ${result.failed}`);
  return result;
}

function failure(change: (room: ExportedRoom) => void): string {
  const room = exportedRoom();
  change(room);
  const result = mapExportRoom(room);
  if (!isFailedConversation(result)) throw new Error('expected a failed room');
  expect(result.sourceId).toBe(typeof room.id === 'string' && room.id === ROOM ? ROOM : null);
  return result.failed;
}

describe('mapExportRoom', () => {
  it('maps a room of our export as it is: tree, statuses, models, times, active message', () => {
    expect(mapped(exportedRoom())).toEqual({
      sourceId: ROOM,
      title: 'Sourdough',
      createdAt: '2026-01-31T12:00:00.000Z',
      updatedAt: '2026-01-31T12:05:00.000Z',
      model: 'llama3.1',
      systemPrompt: 'Answer briefly.',
      messages: [
        {
          sourceId: M1,
          parentSourceId: null,
          role: 'user',
          content: 'What is a levain?',
          status: 'complete',
          createdAt: '2026-01-31T12:00:01.000Z',
          model: null,
        },
        {
          sourceId: M2,
          parentSourceId: M1,
          role: 'assistant',
          content: 'A starter build.',
          status: 'complete',
          createdAt: '2026-01-31T12:00:02.000Z',
          model: 'llama3.1',
        },
        {
          sourceId: M3,
          parentSourceId: M1,
          role: 'assistant',
          content: 'A pre-ferment',
          status: 'stopped',
          createdAt: '2026-01-31T12:01:00.000Z',
          model: 'llama3.1',
        },
        {
          sourceId: M4,
          parentSourceId: M2,
          role: 'user',
          content: 'How long?',
          status: 'complete',
          createdAt: '2026-01-31T12:02:00.000Z',
          model: null,
        },
      ],
      activeSourceId: M2,
      notes: [],
    });
  });

  it('an empty room is a room', () => {
    const room = { ...exportedRoom(), messages: [], activeMessageId: null };
    const result = mapped(room);
    expect(result.messages).toEqual([]);
    expect(result.activeSourceId).toBeNull();
    expect(result.notes).toEqual([]);
  });

  it('keeps the text of a failed or stopped reply, even empty; a streaming one comes back stopped', () => {
    const room = exportedRoom();
    room.messages[2].content = '';
    room.messages[2].status = 'failed';
    room.messages[1].status = 'streaming';
    const result = mapped(room);
    expect(result.messages.map((x) => [x.content, x.status])).toEqual([
      ['What is a levain?', 'complete'],
      ['A starter build.', 'stopped'],
      ['', 'failed'],
      ['How long?', 'complete'],
    ]);
    expect(result.notes).toEqual([
      `Still being written when exported: now stopped: 1 message (${M2}).`,
    ]);
  });

  it('orders parents first and dates a child 1 ms after a parent it is not newer than, with a note', () => {
    const room = exportedRoom();
    room.messages.reverse();
    room.messages.find((x) => x.id === M4)!.createdAt = '2020-01-01T00:00:00.000Z';
    const result = mapped(room);
    expect(result.messages.map((x) => x.sourceId)).toEqual([M1, M2, M4, M3]);
    expect(result.messages[2].createdAt).toBe('2026-01-31T12:00:02.001Z');
    expect(result.notes).toEqual([
      `Not newer than the message they follow: dated 1 ms after it: 1 message (${M4}).`,
    ]);
  });

  it('without an active message, the newest leaf is active', () => {
    const result = mapped({ ...exportedRoom(), activeMessageId: null });
    expect(result.activeSourceId).toBe(M4);
    expect(result.notes).toEqual([
      'The room names no active message: its newest message is the active one.',
    ]);
  });

  it('accepts ids in capitals as the same ids', () => {
    const room = exportedRoom();
    room.messages[1].parentId = M1.toUpperCase();
    room.activeMessageId = M2.toUpperCase();
    expect(mapped(room).activeSourceId).toBe(M2);
  });

  it('fails a room with anything out of place, saying what', () => {
    expect(mapExportRoom('room')).toEqual({
      failed: 'The room is not a JSON object.',
      sourceId: null,
      title: null,
    });
    expect(failure((r) => (r.id = 'room-1'))).toBe('The room has no `id` that is a UUID.');
    expect(failure((r) => (r.title = '   '))).toBe('The title is not 1 to 200 characters long.');
    expect(failure((r) => (r.title = 'x'.repeat(201)))).toBe(
      'The title is not 1 to 200 characters long.',
    );
    expect(failure((r) => (r.createdAt = 1769860800000))).toBe(
      'The createdAt is not an ISO-8601 time.',
    );
    expect(failure((r) => (r.updatedAt = 'yesterday'))).toBe(
      'The updatedAt is not an ISO-8601 time.',
    );
    expect(failure((r) => (r.model = 7))).toBe('The model is not text.');
    expect(failure((r) => (r.systemPrompt = 'p'.repeat(8001)))).toBe(
      'The systemPrompt is not 0 to 8,000 characters long.',
    );
    expect(failure((r) => (r.messages = {} as never))).toBe('The room has no `messages` list.');
    expect(failure((r) => (r.messages[1] = 'hi' as never))).toBe(
      "The room's message 2 is not a JSON object.",
    );
    expect(failure((r) => (r.messages[1].id = 'x'))).toBe('The id of message 2 is not a UUID.');
    expect(failure((r) => (r.messages[1].id = M1))).toBe(
      'Message 2 has the id of an earlier message.',
    );
    expect(failure((r) => (r.messages[0].parentId = ROOM))).toBe(
      'Message 1 follows a message that is not in the room.',
    );
    expect(failure((r) => (r.messages[1].role = 'tool'))).toBe(
      'The role of message 2 is not one of user, assistant, system.',
    );
    expect(failure((r) => (r.messages[1].status = 'done'))).toBe(
      'The status of message 2 is not one of streaming, complete, stopped, failed.',
    );
    expect(failure((r) => (r.messages[1].content = 'c'.repeat(32_001)))).toBe(
      'The content of message 2 is not 0 to 32,000 characters long.',
    );
    expect(failure((r) => (r.messages[1].content = 'nul \u0000'))).toBe(
      'The content of message 2 holds characters that cannot be stored.',
    );
    expect(failure((r) => (r.messages[1].content = null))).toBe(
      'The content of message 2 is not text.',
    );
    expect(failure((r) => (r.messages[1].createdAt = '2026-01-31'))).toBe(
      'The createdAt of message 2 is not an ISO-8601 time.',
    );
    expect(failure((r) => (r.activeMessageId = ROOM))).toBe(
      "The room's active message is not one of its messages.",
    );
    expect(
      failure((r) => {
        r.messages[0].parentId = M4;
      }),
    ).toBe('The messages of the room follow each other in a loop.');
  });

  it('names a failed room by a title it can store', () => {
    const result = mapExportRoom({ ...exportedRoom(), title: ' Bad\u0000 title ', messages: null });
    expect(result).toEqual({
      failed: 'The title holds characters that cannot be stored.',
      sourceId: ROOM,
      title: 'Bad\uFFFD title',
    });
  });

  it('fails a room with more messages than a room may hold', () => {
    expect(mapExportRoom(exportedRoom(), { maxMessages: 3 })).toEqual({
      failed: 'The room has 4 messages, more than the 3 one room may hold.',
      sourceId: ROOM,
      title: 'Sourdough',
    });
  });

  it('any JSON value, and any change to a room: never throws', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.constantFrom('id', 'title', 'createdAt', 'model', 'messages', 'activeMessageId'),
        fc.nat(3),
        fc.constantFrom('id', 'parentId', 'role', 'content', 'status', 'model', 'createdAt'),
        (value, roomKey, index, messageKey) => {
          expect(() => mapExportRoom(value)).not.toThrow();
          const room: Record<string, unknown> = exportedRoom();
          room[roomKey] = value;
          expect(() => mapExportRoom(room)).not.toThrow();
          const other = exportedRoom();
          other.messages[index][messageKey] = value;
          expect(() => mapExportRoom(other)).not.toThrow();
        },
      ),
      { numRuns: 300 },
    );
  });
});
