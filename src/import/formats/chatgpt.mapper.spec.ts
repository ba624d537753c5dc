import fc from 'fast-check';
import { chatGptFixture } from '../../../test/helpers/chatgpt-fixtures';
import { mapChatGptConversation } from './chatgpt.mapper';
import {
  type FailedConversation,
  type MappedConversation,
  isFailedConversation,
} from './mapped-conversation';

const NOW = new Date('2030-01-01T00:00:00.000Z');

function mapped(value: unknown, maxMessages?: number): MappedConversation {
  const result = mapChatGptConversation(value, { now: NOW, maxMessages });
  if (isFailedConversation(result)) throw new Error(`failed: ${result.failed}`);
  return result;
}

function failed(value: unknown): FailedConversation {
  const result = mapChatGptConversation(value, { now: NOW });
  if (!isFailedConversation(result)) throw new Error('expected a failed conversation');
  return result;
}

/** The messages as "sourceId <- parentSourceId: content" lines, in output order. */
function lines(conversation: MappedConversation): string[] {
  return conversation.messages.map((m) => `${m.sourceId} <- ${m.parentSourceId}: ${m.content}`);
}

/** A minimal node of `mapping`, as ChatGPT writes it. */
function node(
  id: string,
  parent: string | null,
  role: string | null,
  content: unknown,
  extra: { time?: unknown; metadata?: unknown } = {},
) {
  return {
    id,
    parent,
    children: [],
    message:
      role === null
        ? null
        : {
            id,
            author: { role, name: null, metadata: {} },
            create_time: extra.time ?? null,
            content,
            metadata: extra.metadata ?? {},
          },
  };
}

function conversation(nodes: ReturnType<typeof node>[], fields: Record<string, unknown> = {}) {
  return {
    title: 'T',
    create_time: 1_700_000_000,
    conversation_id: 'c-1',
    mapping: Object.fromEntries(nodes.map((n) => [n.id, n])),
    current_node: nodes.at(-1)?.id ?? null,
    ...fields,
  };
}

const text = (...parts: unknown[]) => ({ content_type: 'text', parts });

describe('mapChatGptConversation: the fixtures', () => {
  it('plain: the visible exchange, times in milliseconds, the model slug, the current node', () => {
    expect(mapped(chatGptFixture('plain'))).toEqual({
      sourceId: '66a1b2c3-0001-800e-a1b2-c3d4e5f60001',
      title: 'Bread baking basics',
      // 1717171700.123456 s
      createdAt: '2024-05-31T16:08:20.123Z',
      updatedAt: '2024-05-31T16:08:50.500Z',
      model: null,
      systemPrompt: null,
      messages: [
        {
          sourceId: 'aaa2b3c4-0001-4d5e-9f00-000000000002',
          parentSourceId: null,
          role: 'user',
          content: 'How long should I knead bread dough?',
          status: 'complete',
          // 1717171701.2345 s, rounded to the millisecond
          createdAt: '2024-05-31T16:08:21.235Z',
          model: null,
        },
        {
          sourceId: '5e6f7a8b-0001-4c9d-a000-000000000003',
          parentSourceId: 'aaa2b3c4-0001-4d5e-9f00-000000000002',
          role: 'assistant',
          content: 'Knead it for about 10 minutes by hand, until it is smooth and springs back.',
          status: 'complete',
          createdAt: '2024-05-31T16:08:24.500Z',
          model: 'gpt-4o',
        },
      ],
      activeSourceId: '5e6f7a8b-0001-4c9d-a000-000000000003',
      notes: [],
    });
  });

  it('hidden system root: the hidden system message and the custom instructions are left out', () => {
    const result = mapped(chatGptFixture('hidden-system-root'));
    expect(lines(result)).toEqual([
      'aaa20002-0002-4b00-8000-000000000003 <- null: What is a poolish?',
      'b5b6b7b8-0002-4b00-8000-000000000004 <- aaa20002-0002-4b00-8000-000000000003: A poolish is a wet pre-ferment of equal weights of flour and water with a little yeast.',
    ]);
    expect(result.messages.map((m) => m.role)).toEqual(['user', 'assistant']);
    expect(result.messages[1].model).toBe('gpt-4o-mini');
    expect(result.messages.map((m) => m.createdAt)).toEqual([
      '2024-05-31T16:10:01.500Z',
      '2024-05-31T16:10:03.250Z',
    ]);
  });

  it('regenerate: both replies are siblings, and current_node keeps the older one active', () => {
    const result = mapped(chatGptFixture('regenerate'));
    const user = 'aaa20003-0003-4b00-8000-000000000002';
    expect(lines(result)).toEqual([
      `${user} <- null: Suggest a name for a sourdough starter.`,
      `b5b6b7b8-0003-4b00-8000-000000000003 <- ${user}: How about "Clint Yeastwood"?`,
      `b5b6b7b8-0003-4b00-8000-000000000004 <- ${user}: How about "Bread Pitt"?`,
    ]);
    expect(result.activeSourceId).toBe('b5b6b7b8-0003-4b00-8000-000000000003');
    expect(result.messages.map((m) => m.model)).toEqual([null, 'gpt-4o', 'gpt-4']);
  });

  it('edit: the edited question is a sibling of the first, each with its reply; the edit is active', () => {
    const result = mapped(chatGptFixture('edit'));
    expect(lines(result)).toEqual([
      'aaa20004-0004-4b00-8000-000000000002 <- null: Convert 200 g of flour to cups',
      'b5b6b7b8-0004-4b00-8000-000000000003 <- aaa20004-0004-4b00-8000-000000000002: 200 g of all-purpose flour is about 1 2/3 cups.',
      'aaa20004-0004-4b00-8000-000000000004 <- null: Convert 200 g of bread flour to cups',
      'b5b6b7b8-0004-4b00-8000-000000000005 <- aaa20004-0004-4b00-8000-000000000004: 200 g of bread flour is about 1 1/2 cups.',
    ]);
    expect(result.activeSourceId).toBe('b5b6b7b8-0004-4b00-8000-000000000005');
  });

  it('multimodal_text: an image part and an attached PDF become placeholders beside the text', () => {
    const result = mapped(chatGptFixture('multimodal-image'));
    expect(result.messages.map((m) => m.content)).toEqual([
      // the uploaded image is both a part and an attachment: named once
      '[image]\n\nWhich bread is this?',
      'It looks like a pain de campagne: a rustic country loaf.',
      '[file: campagne-recipe.pdf]\n\nSummarise this recipe.',
      'The recipe uses a levain, 20 % whole wheat and a long cold proof.',
    ]);
    expect(result.messages.map((m) => m.parentSourceId)).toEqual([
      null,
      'aaa20005-0005-4b00-8000-000000000002',
      'b5b6b7b8-0005-4b00-8000-000000000003',
      'aaa20005-0005-4b00-8000-000000000004',
    ]);
  });

  it('code + tool + reply: the code is fenced, the tool output left out, the reply follows the code', () => {
    const result = mapped(chatGptFixture('code-tool-reply'));
    const code = 'c0dec0de-0006-4b00-8000-000000000003';
    expect(lines(result)).toEqual([
      'aaa20006-0006-4b00-8000-000000000002 <- null: What is the hydration of 350 g water in 500 g flour?',
      `${code} <- aaa20006-0006-4b00-8000-000000000002: \`\`\`python\nwater = 350\nflour = 500\nwater / flour * 100\n\`\`\``,
      `b5b6b7b8-0006-4b00-8000-000000000005 <- ${code}: The dough is at 70 % hydration.`,
    ]);
    expect(result.messages.some((m) => m.content.includes('70.0'))).toBe(false);
    expect(result.activeSourceId).toBe('b5b6b7b8-0006-4b00-8000-000000000005');
  });

  it('missing metadata, title, times and current_node: defaults, and nodes without author or content are left out', () => {
    const result = mapped(chatGptFixture('missing-metadata'));
    expect(result.title).toBe('Imported chat');
    const user = 'aaa20007-0007-4b00-8000-000000000002';
    const reply = 'b5b6b7b8-0007-4b00-8000-000000000003';
    expect(
      result.messages.map((m) => [m.sourceId, m.parentSourceId, m.createdAt, m.model]),
    ).toEqual([
      [user, null, '2024-05-31T16:21:41.001Z', null],
      // no create_time: its parent's + 1 ms
      [reply, user, '2024-05-31T16:21:41.002Z', null],
    ]);
    // no create_time for the conversation: its first message's
    expect(result.createdAt).toBe('2024-05-31T16:21:41.001Z');
    expect(result.updatedAt).toBe('2024-05-31T16:21:41.002Z');
    expect(result.activeSourceId).toBe(reply);
    expect(result.notes).toEqual([
      'The conversation names no current message: its newest message is the active one.',
    ]);
  });

  it('Korean and emoji are kept exactly, in the title and the messages', () => {
    const result = mapped(chatGptFixture('korean-emoji'));
    expect(result.title).toBe('서울 빵집 추천 🥐');
    expect(result.messages.map((m) => m.content)).toEqual([
      '서울에서 크루아상이 맛있는 빵집을 추천해 주세요 🥐🇰🇷',
      '성수동과 연남동에 유명한 빵집이 많아요! 👩‍🍳✨ 주말에는 일찍 가세요.',
    ]);
  });

  it('a dangling parent: the node is a root, with its reply below it, and a note says so', () => {
    const result = mapped(chatGptFixture('dangling-parent'));
    const lost = 'aaa20009-0009-4b00-8000-000000000004';
    expect(lines(result)).toEqual([
      'aaa20009-0009-4b00-8000-000000000002 <- null: First question',
      'b5b6b7b8-0009-4b00-8000-000000000003 <- aaa20009-0009-4b00-8000-000000000002: First answer',
      `${lost} <- null: A question whose parent was lost`,
      `b5b6b7b8-0009-4b00-8000-000000000005 <- ${lost}: Its answer`,
    ]);
    expect(result.notes).toEqual([
      `Parent not in the conversation: made first messages: 1 message (${lost}).`,
    ]);
  });

  it('over-long messages are cut at 32,000 code units, never inside a surrogate pair, with a note', () => {
    const source = chatGptFixture('over-long');
    const result = mapped(source);
    const [user, reply] = result.messages;
    const userText: string =
      source.mapping['aaa20010-0010-4b00-8000-000000000002'].message.content.parts[0];
    // the 32,000th code unit is the first half of 🍞: the cut is one before it
    expect(userText.charCodeAt(31_999)).toBe(0xd83c);
    expect(user.content).toBe(userText.slice(0, 31_999));
    expect(user.content.isWellFormed()).toBe(true);
    expect(reply.content).toHaveLength(32_000);
    expect(reply.content.startsWith('Here is the corrected text. ')).toBe(true);
    expect(result.notes).toEqual([
      'Cut at 32,000 characters: 2 messages (aaa20010-0010-4b00-8000-000000000002, b5b6b7b8-0010-4b00-8000-000000000003).',
    ]);
  });

  it('an entry without mapping fails, named by its id and title', () => {
    expect(failed(chatGptFixture('no-mapping'))).toEqual({
      failed: 'The conversation has no `mapping` (its messages).',
      sourceId: '66a1b2c3-0011-800e-a1b2-c3d4e5f60011',
      title: 'Entry without mapping',
    });
  });

  it('empty assistant messages are left out: a child goes to the user message, which is active in place of the empty current node', () => {
    const result = mapped(chatGptFixture('empty-assistant'));
    const user = 'aaa20012-0012-4b00-8000-000000000002';
    expect(lines(result)).toEqual([
      `${user} <- null: Give me a baguette scoring pattern.`,
      `b5b6b7b8-0012-4b00-8000-000000000004 <- ${user}: Five overlapping slashes at a shallow angle, along the length.`,
    ]);
    expect(result.activeSourceId).toBe(user);
    expect(result.notes).toEqual([]);
  });
});

describe('mapChatGptConversation: rules', () => {
  it('fails what is not a conversation, naming what it can', () => {
    expect(failed(null).failed).toBe('The conversation is not a JSON object.');
    expect(failed([1, 2]).failed).toBe('The conversation is not a JSON object.');
    expect(failed({ title: 'x', mapping: {} })).toEqual({
      failed: 'The conversation has no `conversation_id` or `id`.',
      sourceId: null,
      title: 'x',
    });
    expect(failed({ id: 'c-9', mapping: [] }).failed).toBe(
      'The conversation has no `mapping` (its messages).',
    );
    expect(failed({ id: 'c-9', title: '  ', mapping: {} })).toEqual({
      failed: 'The conversation has no visible message.',
      sourceId: 'c-9',
      title: 'Imported chat',
    });
    expect(failed({ id: 'x'.repeat(256), mapping: {} }).failed).toMatch(/not an id we can keep/);
  });

  it('prefers conversation_id to id', () => {
    const value = conversation([node('a', null, 'user', text('hi'))], { id: 'other' });
    expect(mapped(value).sourceId).toBe('c-1');
    expect(mapped({ ...value, conversation_id: null }).sourceId).toBe('other');
  });

  it('makes every child at least 1 ms newer than its parent; a root without a time gets the conversation`s', () => {
    const value = conversation([
      node('a', null, 'user', text('one')), // no time
      node('b', 'a', 'assistant', text('two'), { time: 1_600_000_000 }), // older than its parent
      node('c', 'b', 'user', text('three')), // no time
      node('d', 'c', 'assistant', text('four'), { time: 1_700_000_010.0004 }),
    ]);
    expect(mapped(value).messages.map((m) => m.createdAt)).toEqual([
      '2023-11-14T22:13:20.000Z',
      '2023-11-14T22:13:20.001Z',
      '2023-11-14T22:13:20.002Z',
      '2023-11-14T22:13:30.000Z',
    ]);
    // nothing has a time: "now" for the conversation, then + 1 ms down the path
    const timeless = conversation(
      [node('a', null, 'user', text('x')), node('b', 'a', 'user', text('y'))],
      {
        create_time: null,
      },
    );
    expect(mapped(timeless).messages.map((m) => m.createdAt)).toEqual([
      '2030-01-01T00:00:00.000Z',
      '2030-01-01T00:00:00.001Z',
    ]);
    // out-of-range and non-numeric times are missing ones
    for (const time of [-1, 1e20, 'soon', Number.NaN, Infinity]) {
      const odd = conversation([node('a', null, 'user', text('x'), { time })]);
      expect(mapped(odd).messages[0].createdAt).toBe('2023-11-14T22:13:20.000Z');
    }
  });

  it('orders parents before children even when the file lists children first', () => {
    const value = conversation(
      [
        node('c', 'b', 'user', text('three'), { time: 3 + 1.7e9 }),
        node('b', 'a', 'assistant', text('two'), { time: 2 + 1.7e9 }),
        node('a', null, 'user', text('one'), { time: 1 + 1.7e9 }),
      ],
      { current_node: 'c' },
    );
    expect(mapped(value).messages.map((m) => m.sourceId)).toEqual(['a', 'b', 'c']);
  });

  it('takes the parent from `children` when a node has no `parent` field', () => {
    const a = { ...node('a', null, 'user', text('one')), children: ['b'] };
    const b: Record<string, unknown> = node('b', null, 'assistant', text('two'));
    delete b.parent;
    expect(lines(mapped(conversation([a, b] as never)))).toEqual(['a <- null: one', 'b <- a: two']);
  });

  it('breaks a loop of parents instead of looping, with a note', () => {
    const value = conversation([
      node('a', 'c', 'user', text('one')),
      node('b', 'a', 'assistant', text('two')),
      node('c', 'b', 'user', text('three')),
    ]);
    const result = mapped(value);
    expect(lines(result)).toEqual(['a <- null: one', 'b <- a: two', 'c <- b: three']);
    expect(result.notes).toEqual(['Parents in a loop: made first messages: 1 message (a).']);
    expect(lines(mapped(conversation([node('s', 's', 'user', text('self'))])))).toEqual([
      's <- null: self',
    ]);
  });

  it('falls back to the nearest kept ancestor, or the newest leaf, for the active message', () => {
    const nodes = [
      node('a', null, 'user', text('one'), { time: 1.7e9 }),
      node('b', 'a', 'tool', text('tool output'), { time: 1.7e9 + 1 }),
      node('c', 'a', 'assistant', text('newest'), { time: 1.7e9 + 2 }),
    ];
    expect(mapped(conversation(nodes, { current_node: 'b' })).activeSourceId).toBe('a');
    const unknown = mapped(conversation(nodes, { current_node: 'nope' }));
    expect(unknown.activeSourceId).toBe('c');
    expect(unknown.notes).toEqual([
      'The conversation names no current message: its newest message is the active one.',
    ]);
    const above = mapped(
      conversation([node('a', null, 'system', text(''), { time: 1.7e9 }), ...nodes.slice(1)], {
        current_node: 'a',
      }),
    );
    expect(above.activeSourceId).toBe('c');
    expect(above.notes).toEqual([
      'Nothing above the current message was kept: the newest message is the active one.',
    ]);
  });

  it('keeps visible system messages, leaves out hidden ones and other authors', () => {
    const value = conversation([
      node('s', null, 'system', text('You are a baker.')),
      node('h', 's', 'user', text('hidden'), {
        metadata: { is_visually_hidden_from_conversation: true },
      }),
      node('t', 'h', 'tool', text('tool')),
      node('x', 't', 'critic', text('critic')),
      node('u', 'x', 'user', text('visible')),
    ]);
    expect(lines(mapped(value))).toEqual(['s <- null: You are a baker.', 'u <- s: visible']);
  });

  it('joins text parts with a blank line and names each non-text part', () => {
    const value = conversation([
      node('a', null, 'user', {
        content_type: 'multimodal_text',
        parts: [
          'first',
          '',
          { content_type: 'audio_transcription', text: 'spoken words', direction: 'in' },
          { content_type: 'real_time_user_audio_video_asset_pointer', frames_asset_pointers: [] },
          { content_type: 'audio_asset_pointer', asset_pointer: 'sediment://file_1' },
          { content_type: 'video_container_asset_pointer', asset_pointer: 'sediment://file_2' },
          { content_type: 'sticker_asset_pointer' },
          { content_type: '!!' },
          {},
          null,
          7,
          'last',
        ],
      }),
    ]);
    expect(mapped(value).messages[0].content).toBe(
      [
        'first',
        'spoken words',
        '[audio]',
        '[audio]',
        '[video]',
        '[sticker]',
        '[attachment]',
        '[attachment]',
        'last',
      ].join('\n\n'),
    );
  });

  it('fences code with a fence longer than the code`s backticks, and a language only when known', () => {
    const value = conversation([
      node('a', null, 'assistant', {
        content_type: 'code',
        language: 'unknown',
        text: 'x = "```"\n',
      }),
      node('b', 'a', 'assistant', { content_type: 'code', language: 'a b', text: 'print(1)' }),
      node('c', 'b', 'assistant', { content_type: 'code', language: 'python', text: '   ' }),
    ]);
    expect(mapped(value).messages.map((m) => m.content)).toEqual([
      '````\nx = "```"\n````',
      '```\nprint(1)\n```',
    ]);
  });

  it('leaves out reasoning and context messages, handing their children on', () => {
    const value = conversation([
      node('u', null, 'user', text('why?')),
      node('t', 'u', 'assistant', {
        content_type: 'thoughts',
        thoughts: [{ summary: 's', content: 'c' }],
      }),
      node('r', 't', 'assistant', {
        content_type: 'reasoning_recap',
        content: 'Thought for 4 seconds',
      }),
      node('a', 'r', 'assistant', text('because')),
    ]);
    expect(lines(mapped(value))).toEqual(['u <- null: why?', 'a <- u: because']);
  });

  it('replaces what PostgreSQL cannot store, with a note', () => {
    const value = conversation([node('a', null, 'user', text('nul\u0000 and \ud800 lone'))]);
    const result = mapped(value);
    expect(result.messages[0].content).toBe('nul\uFFFD and \uFFFD lone');
    expect(result.notes).toEqual([
      'Characters that cannot be stored replaced by \uFFFD: 1 message (a).',
    ]);
  });

  it('trims the title and cuts it at 200 code units, never inside a surrogate pair', () => {
    const title = `  ${'t'.repeat(199)}😀tail  `;
    const value = conversation([node('a', null, 'user', text('x'))], { title });
    expect(mapped(value).title).toBe('t'.repeat(199));
    expect(mapped({ ...value, title: '\n' }).title).toBe('Imported chat');
    expect(mapped({ ...value, title: 42 }).title).toBe('Imported chat');
  });

  it('cuts a model slug at 200 characters; an empty one is none', () => {
    const value = conversation([
      node('a', null, 'assistant', text('x'), { metadata: { model_slug: 'm'.repeat(300) } }),
      node('b', 'a', 'assistant', text('y'), { metadata: { model_slug: ' ' } }),
    ]);
    expect(mapped(value).messages.map((m) => m.model)).toEqual(['m'.repeat(200), null]);
  });

  it('fails a conversation with more messages than a room may hold', () => {
    const value = conversation([
      node('a', null, 'user', text('1')),
      node('b', 'a', 'assistant', text('2')),
      node('c', 'b', 'user', text('3')),
    ]);
    expect(mapped(value, 3).messages).toHaveLength(3);
    const result = mapChatGptConversation(value, { maxMessages: 2 });
    expect(result).toEqual({
      failed: 'The conversation has 3 messages, more than the 2 one room may hold.',
      sourceId: 'c-1',
      title: 'T',
    });
  });

  it('treats a `__proto__` node id as any other id', () => {
    const value = JSON.parse(
      '{"id":"p","mapping":{"__proto__":{"parent":null,"message":{"author":{"role":"user"},"content":{"content_type":"text","parts":["proto"]}}},' +
        '"b":{"parent":"__proto__","message":{"author":{"role":"assistant"},"content":{"content_type":"text","parts":["child"]}}}},"current_node":"b"}',
    );
    expect(lines(mapped(value))).toEqual(['__proto__ <- null: proto', 'b <- __proto__: child']);
    expect(Object.prototype).not.toHaveProperty('parent');
  });
});

// ---------------------------------------------------------------------------------------------
// Property-based: random mappings, as broken as JSON allows.

const ROLES = ['user', 'assistant', 'system', 'tool', 'critic', undefined] as const;
const KEPT = new Set(['user', 'assistant', 'system']);

const partArb = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom('', '  ', '\n'),
  fc.record(
    {
      content_type: fc.constantFrom(
        'image_asset_pointer',
        'audio_transcription',
        'x_asset_pointer',
      ),
      text: fc.string({ maxLength: 8 }),
    },
    { requiredKeys: ['content_type'] },
  ),
  fc.constantFrom(null, 3, true),
);
const contentArb = fc.oneof(
  fc.record(
    {
      content_type: fc.constantFrom('text', 'multimodal_text', 'tether_quote'),
      parts: fc.array(partArb, { maxLength: 3 }),
    },
    { requiredKeys: [] },
  ),
  fc.record({
    content_type: fc.constant('code'),
    language: fc.constantFrom('python', 'unknown', 3),
    text: fc.string({ maxLength: 12 }),
  }),
  fc.record({ content_type: fc.constantFrom('thoughts', 'execution_output'), text: fc.string() }),
  fc.constantFrom(null, undefined, 'text', 12),
);
const timeArb = fc.oneof(
  fc.double({ min: 1.5e9, max: 1.8e9, noNaN: true }),
  fc.integer({ min: 1_600_000_000, max: 1_600_000_010 }),
  fc.constantFrom(null, undefined, -3, 1e30, '1700000000.5', 'nonsense', Number.NaN),
);
/** A message as ChatGPT writes most of them: an author, text parts, maybe hidden. */
const plainMessageArb = fc.record({
  author: fc.record({ role: fc.constantFrom('user', 'assistant', 'system', 'tool') }),
  content: fc.record({
    content_type: fc.constant('text'),
    parts: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 2 }),
  }),
  create_time: timeArb,
  metadata: fc.record({
    is_visually_hidden_from_conversation: fc.constantFrom(false, false, false, true),
    model_slug: fc.constantFrom('gpt-4o', 'o3'),
  }),
});
/** Anything a message field may be, missing or of the wrong type included. */
const wildMessageArb = fc.record(
  {
    author: fc.oneof(
      fc.record({ role: fc.constantFrom(...ROLES) }, { requiredKeys: [] }),
      fc.constantFrom(null, 'user'),
    ),
    content: contentArb,
    create_time: timeArb,
    metadata: fc.oneof(
      fc.record(
        {
          is_visually_hidden_from_conversation: fc.boolean(),
          model_slug: fc.oneof(fc.string({ maxLength: 6 }), fc.constant(null)),
          attachments: fc.array(
            fc.record({
              name: fc.string({ maxLength: 6 }),
              mime_type: fc.constantFrom('image/png', 'text/plain'),
            }),
            { maxLength: 2 },
          ),
        },
        { requiredKeys: [] },
      ),
      fc.constant(null),
    ),
  },
  { requiredKeys: [] },
);
const messageArb = fc.oneof(
  { weight: 6, arbitrary: plainMessageArb },
  { weight: 3, arbitrary: wildMessageArb },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, 'message', [1]) },
);
/** A node and how it picks its parent: none, a missing id, no field, or the n-th node. */
const nodeArb = fc.record({
  message: messageArb,
  parent: fc.oneof(
    { weight: 8, arbitrary: fc.nat() },
    { weight: 1, arbitrary: fc.constantFrom('null', 'missing', 'absent') },
  ),
});

/** What the property checks read of a generated message. */
type FileMessage = {
  author?: { role?: string } | null;
  metadata?: { is_visually_hidden_from_conversation?: unknown } | null;
} | null;

function buildMapping(
  specs: { message: unknown; parent: number | string }[],
  acyclic: boolean,
): Record<string, unknown> {
  const mapping: Record<string, unknown> = {};
  specs.forEach((spec, i) => {
    const n: Record<string, unknown> = { id: `n${i}`, message: spec.message, children: [] };
    if (typeof spec.parent === 'number') {
      const bound = acyclic ? i : specs.length;
      n.parent = bound === 0 ? null : `n${spec.parent % bound}`;
    } else if (spec.parent === 'null') n.parent = null;
    else if (spec.parent === 'missing') n.parent = 'gone';
    mapping[`n${i}`] = n;
  });
  return mapping;
}

function checkInvariants(result: MappedConversation): void {
  const at = new Map(result.messages.map((m, i) => [m.sourceId, i]));
  expect(at.size).toBe(result.messages.length);
  for (const [i, m] of result.messages.entries()) {
    expect(m.content.trim()).not.toBe('');
    expect(m.content.length).toBeLessThanOrEqual(32_000);
    expect(m.content.includes('\u0000') || !m.content.isWellFormed()).toBe(false);
    expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt);
    expect(KEPT.has(m.role)).toBe(true);
    if (m.parentSourceId !== null) {
      // parents before children, and strictly older
      const p = at.get(m.parentSourceId);
      expect(p).toBeDefined();
      expect(p!).toBeLessThan(i);
      expect(Date.parse(result.messages[p!].createdAt)).toBeLessThan(Date.parse(m.createdAt));
    }
  }
  expect(result.activeSourceId === null ? null : at.has(result.activeSourceId)).toBe(true);
  expect(Date.parse(result.updatedAt)).toBeGreaterThanOrEqual(Date.parse(result.createdAt));
}

describe('mapChatGptConversation: properties', () => {
  it('a random tree: parents before children, each child newer than its parent, each message under its nearest kept ancestor, the active one kept or the nearest kept above current_node', () => {
    fc.assert(
      fc.property(
        fc.array(nodeArb, { maxLength: 30, size: 'max' }),
        fc.oneof(fc.nat(), fc.constantFrom(null, 'gone')),
        (specs, currentPick) => {
          const mapping = buildMapping(specs, true);
          const current_node =
            typeof currentPick === 'number' && specs.length > 0
              ? `n${currentPick % specs.length}`
              : currentPick;
          const value = { id: 'c', title: 't', create_time: 1.7e9, mapping, current_node };
          const result = mapChatGptConversation(value, { now: NOW });
          const parentOf = (id: string): string | null => {
            const parent = (mapping[id] as { parent?: unknown }).parent;
            return typeof parent === 'string' && parent in mapping ? parent : null;
          };
          if (isFailedConversation(result)) {
            expect(result.failed).toBe('The conversation has no visible message.');
            return;
          }
          checkInvariants(result);
          const kept = new Set(result.messages.map((m) => m.sourceId));
          for (const m of result.messages) {
            // only user, assistant and system messages that are not hidden
            const message = (mapping[m.sourceId] as { message: FileMessage }).message;
            expect(KEPT.has(message?.author?.role ?? '')).toBe(true);
            expect(message?.metadata?.is_visually_hidden_from_conversation).not.toBe(true);
            // the nearest kept ancestor in the file
            let up = parentOf(m.sourceId);
            while (up !== null && !kept.has(up)) up = parentOf(up);
            expect(m.parentSourceId).toBe(up);
          }
          let wanted =
            typeof current_node === 'string' && current_node in mapping ? current_node : null;
          while (wanted !== null && !kept.has(wanted)) wanted = parentOf(wanted);
          if (wanted !== null) {
            expect(result.activeSourceId).toBe(wanted);
          } else {
            // the newest leaf
            const parents = new Set(result.messages.map((m) => m.parentSourceId));
            const active = result.messages.find((m) => m.sourceId === result.activeSourceId)!;
            expect(parents.has(active.sourceId)).toBe(false);
            const newest = Math.max(...result.messages.map((m) => Date.parse(m.createdAt)));
            expect(Date.parse(active.createdAt)).toBe(newest);
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('random parents, loops included: never throws, and the invariants hold', () => {
    fc.assert(
      fc.property(
        fc.array(nodeArb, { maxLength: 30, size: 'max' }),
        fc.nat(),
        (specs, currentPick) => {
          const mapping = buildMapping(specs, false);
          const current_node = specs.length > 0 ? `n${currentPick % specs.length}` : null;
          const result = mapChatGptConversation({ id: 'c', mapping, current_node });
          if (!isFailedConversation(result)) checkInvariants(result);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('any JSON value: never throws', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue()), (value, mapping) => {
        expect(() => mapChatGptConversation(value)).not.toThrow();
        expect(() => mapChatGptConversation({ id: 'c', mapping, current_node: 'x' })).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });
});
