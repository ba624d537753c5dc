import type { MappedConversation, MappedMessage } from './formats';
import { roomRows } from './room-rows';

const owner = {
  ownerId: '00000000-0000-4000-8000-000000000001',
  format: 'chatgpt' as const,
  model: null,
};

/** A conversation of messages given as [id, parent], in that (parents-first) order. */
function conversation(links: [string, string | null][], active: string | null): MappedConversation {
  const messages: MappedMessage[] = links.map(([sourceId, parentSourceId], i) => ({
    sourceId,
    parentSourceId,
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: `text of ${sourceId}`,
    status: 'complete',
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    model: null,
  }));
  return {
    sourceId: 'conv-1',
    title: 'A tree',
    createdAt: messages[0]?.createdAt ?? '2026-01-01T00:00:00.000Z',
    updatedAt: messages.at(-1)?.createdAt ?? '2026-01-01T00:00:00.000Z',
    model: null,
    systemPrompt: null,
    messages,
    activeSourceId: active,
    notes: [],
  };
}

// a ─ b ─ c        (c and d: siblings under b; e under d)
//       └ d ─ e
// f                (a second root)
const TREE: [string, string | null][] = [
  ['a', null],
  ['b', 'a'],
  ['c', 'b'],
  ['d', 'b'],
  ['e', 'd'],
  ['f', null],
];

function bySource(rows: ReturnType<typeof roomRows>, conv: MappedConversation) {
  return new Map(
    conv.messages.map((m, i) => [
      m.sourceId,
      {
        id: rows.ids[i],
        parentId: rows.parentIds[i],
        onPath: rows.onActivePath[i],
        chosen: rows.chosenVersions[i],
        siblings: rows.siblingCounts[i],
      },
    ]),
  );
}

describe('roomRows', () => {
  it('flags the path from the root to the active message, and nothing else', () => {
    const conv = conversation(TREE, 'c');
    const rows = roomRows(conv, owner);
    const m = bySource(rows, conv);
    expect([...m].filter(([, r]) => r.onPath).map(([id]) => id)).toEqual(['a', 'b', 'c']);
    expect([...m].filter(([, r]) => r.chosen === 1).map(([id]) => id)).toEqual(['a', 'b', 'c']);
    expect(rows.activeMessageId).toBe(m.get('c')!.id);
  });

  it('follows an active message that has replies down through the newest reply at each step', () => {
    const conv = conversation(TREE, 'b');
    const rows = roomRows(conv, owner);
    const m = bySource(rows, conv);
    expect(rows.activeMessageId).toBe(m.get('e')!.id);
    expect([...m].filter(([, r]) => r.onPath).map(([id]) => id)).toEqual(['a', 'b', 'd', 'e']);
  });

  it('maps parents to the new ids and counts siblings, roots among themselves', () => {
    const conv = conversation(TREE, 'e');
    const rows = roomRows(conv, owner);
    const m = bySource(rows, conv);
    expect(new Set(rows.ids).size).toBe(TREE.length);
    for (const [id, parent] of TREE) {
      expect(m.get(id)!.parentId).toBe(parent === null ? null : m.get(parent)!.id);
    }
    expect(Object.fromEntries([...m].map(([id, r]) => [id, r.siblings]))).toEqual({
      a: 2,
      b: 1,
      c: 2,
      d: 2,
      e: 1,
      f: 2,
    });
  });

  it('names the source per format, and keeps our room id only when it is a UUID', () => {
    const ours = { ...conversation(TREE, 'c'), sourceId: '3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33' };
    expect(roomRows(ours, { ...owner, format: 'room' })).toMatchObject({
      importSource: 'room:3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33',
      sameId: '3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33',
    });
    expect(
      roomRows({ ...ours, sourceId: 'not-a-uuid' }, { ...owner, format: 'room' }).sameId,
    ).toBeNull();
    expect(roomRows(ours, owner)).toMatchObject({
      importSource: `chatgpt:${ours.sourceId}`,
      sameId: null,
    });
  });

  it('makes an empty room of a conversation without messages', () => {
    const rows = roomRows(conversation([], null), owner);
    expect(rows.ids).toEqual([]);
    expect(rows.activeMessageId).toBeNull();
  });
});
