import {
  documentStart,
  DOCUMENT_END,
  exportedMessage,
  exportFilename,
  GroupWriter,
  PieceWriter,
  ROOM_END,
  roomStart,
} from './export-document';
import type { ExportMessageRow, ExportRoomRow } from './export.repository';

const room: ExportRoomRow = {
  id: '3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33',
  title: 'a "title" \\ with\nlines',
  created_at: '2026-01-31T12:00:00.000Z',
  // row_to_json's form is accepted too (apiTimestamp).
  updated_at: '2026-01-31T12:05:00.12+00:00',
  model: null,
  system_prompt: 'Be brief.',
  active_message_id: '6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51',
  message_count: 2,
};

const message = (content: string): ExportMessageRow => ({
  ord: 1,
  id: '6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51',
  parent_id: null,
  role: 'user',
  content,
  status: 'complete',
  model: null,
  created_at: '2026-01-31T12:00:00.500Z',
  fetched: 1,
});

describe('the export document’s pieces', () => {
  it('join into the document: frame, rooms, messages', () => {
    const at = new Date('2026-01-31T23:59:59.999Z');
    const text = [
      documentStart(at),
      roomStart(room),
      exportedMessage(message('one')),
      ',',
      exportedMessage(message('two')),
      ROOM_END,
      ',',
      roomStart({ ...room, id: 'second', active_message_id: null }),
      ROOM_END,
      DOCUMENT_END,
    ].join('');
    const m = {
      id: '6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51',
      parentId: null,
      role: 'user',
      status: 'complete',
      model: null,
      createdAt: '2026-01-31T12:00:00.500Z',
    };
    const head = {
      title: room.title,
      createdAt: '2026-01-31T12:00:00.000Z',
      updatedAt: '2026-01-31T12:05:00.120Z',
      model: null,
      systemPrompt: 'Be brief.',
    };
    expect(JSON.parse(text)).toEqual({
      format: 'chat-backend.export',
      version: 1,
      exportedAt: '2026-01-31T23:59:59.999Z',
      rooms: [
        {
          id: room.id,
          ...head,
          activeMessageId: room.active_message_id,
          messages: [
            { ...m, content: 'one' },
            { ...m, content: 'two' },
          ],
        },
        { id: 'second', ...head, activeMessageId: null, messages: [] },
      ],
    });
    // Keys in the contract's order.
    expect(text).toMatch(
      /^\{"format":"chat-backend.export","version":1,"exportedAt":"[^"]+","rooms":\[\{"id":"[^"]+","title":/,
    );
    expect(exportFilename(at)).toBe('chat-export-2026-01-31.json');
  });

  it('escapes what JSON requires, and a lone surrogate as \\u escape (valid UTF-8 either way)', () => {
    const content = '\u0000\u001f "\\ 서울 😀 \ud800 x \udfff';
    const piece = exportedMessage(message(content));
    expect(piece).toContain('\\u0000\\u001f \\"\\\\ 서울 😀 \\ud800 x \\udfff');
    // As sent: UTF-8 that decodes to the same text, which parses back to the same string.
    const sent = Buffer.from(piece, 'utf8').toString('utf8');
    expect(sent).toBe(piece);
    expect((JSON.parse(sent) as { content: string }).content).toBe(content);
  });

  it('are encoded as UTF-8 into one Buffer that grows as needed', () => {
    const writer = new PieceWriter();
    expect(writer.take()).toHaveLength(0);
    const texts = ['{"a":', JSON.stringify('서울 😀 é'), ',', '"x"'.repeat(300_000), '}'];
    for (const text of texts) writer.write(text);
    const piece = writer.take();
    expect(piece.toString('utf8')).toBe(texts.join(''));
    expect(piece.length).toBe(Buffer.byteLength(texts.join('')));
    // Taken: the next piece starts empty.
    writer.write('[]');
    expect(writer.take().toString('utf8')).toBe('[]');
  });

  it('write a group of rooms across pages: heads as their rooms come, empty rooms too', () => {
    const rooms = ['a', 'b', 'c', 'd'].map((id) => ({ ...room, id, message_count: 1 }));
    const row = (ord: number, content: string) => ({ ...message(content), ord });
    const writer = new GroupWriter(rooms, false);
    expect(writer.roomIds).toEqual(['a', 'b', 'c', 'd']);
    writer.messages([row(1, 'a1')]);
    const first = writer.take();
    // A page that goes on in room a, skips b, and ends inside c; then the end (d is empty).
    writer.messages([row(1, 'a2'), row(3, 'c1')]);
    const second = writer.take();
    writer.messages([row(3, 'c2')]);
    const last = writer.end();
    const text = Buffer.concat([first, second, last]).toString('utf8');
    // Not the document's first group: it starts with the separator.
    expect(text.startsWith(',{"id":"a"')).toBe(true);
    const parsed = JSON.parse(`[${text.slice(1)}]`) as {
      id: string;
      messages: { content: string }[];
    }[];
    expect(parsed.map((r) => [r.id, r.messages.map((m) => m.content)])).toEqual([
      ['a', ['a1', 'a2']],
      ['b', []],
      ['c', ['c1', 'c2']],
      ['d', []],
    ]);
    // The document's first group starts with its first room.
    const alone = new GroupWriter([rooms[0]], true);
    expect(JSON.parse(alone.end().toString('utf8'))).toMatchObject({ id: 'a', messages: [] });
  });
});
