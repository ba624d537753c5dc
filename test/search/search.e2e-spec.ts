import { createRoom, postMessage, seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { Sql } from '../../src/database/sql.service';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

interface Hit {
  message: { id: string; chatRoomId: string; role: string; content: string; createdAt: string };
  chatRoom: { id: string; title: string };
  snippet: string;
  highlights: [number, number][];
}
interface Page {
  items: Hit[];
  nextCursor: string | null;
}

describe('GET /api/search (e2e)', () => {
  let t: TestApp;
  let me: RegisteredUser;
  let other: RegisteredUser;
  let room: { id: string; title: string };
  const posted = new Map<string, string>(); // content → message id

  const CONTENTS = [
    '서울에서 친구를 만났어요',
    '부산으로 가는 기차',
    '東京駅で待ち合わせしましょう',
    '我们明天在北京见面',
    'Crème brûlée à Paris, très bon',
    'party 🎉🎉 tonight at 8',
    'PostgreSQL Trigram Indexes',
    'new york pizza is the best',
    'the pizza of york is new',
    '100% sure about that',
    '100 percent sure',
    'snake a_b case',
    'snake axb case',
    'path c:\\dir\\file',
    'path c:dir',
  ];

  beforeAll(async () => {
    t = await startTestApp();
    me = await registerUser(t.http);
    other = await registerUser(t.http);
    room = await createRoom(t.http, me, 'Everything');
    for (const content of CONTENTS) {
      posted.set(content, (await postMessage(t.http, me, room.id, content)).id);
    }
    const othersRoom = await createRoom(t.http, other, 'Secrets');
    await postMessage(t.http, other, othersRoom.id, 'a secretword 서울에서 only for them');
  });
  afterAll(() => t.close());

  const search = async (user: RegisteredUser, params: Record<string, string>) => {
    const res = await t.http.get('/api/search').query(params).set(user.auth);
    expect(res.status).toBe(200);
    return res.body as Page;
  };
  const contents = (page: Page) => page.items.map((hit) => hit.message.content);

  it.each([
    [
      'a Korean word with a particle attached, by its stem (2 characters)',
      '서울',
      ['서울에서 친구를 만났어요'],
    ],
    ['the whole Korean word (trigrams)', '서울에서', ['서울에서 친구를 만났어요']],
    ['a Korean particle alone', '에서', ['서울에서 친구를 만났어요']],
    ['one Korean syllable', '산', ['부산으로 가는 기차']],
    ['Japanese kanji (2 characters)', '東京', ['東京駅で待ち合わせしましょう']],
    ['Japanese kana', '待ち合わせ', ['東京駅で待ち合わせしましょう']],
    ['Chinese (2 characters)', '北京', ['我们明天在北京见面']],
    ['Chinese (trigrams)', '明天在北京', ['我们明天在北京见面']],
    ['accented Latin in another case', 'BRÛLÉE', ['Crème brûlée à Paris, très bon']],
    ['accented Latin, 1 character', 'À', ['Crème brûlée à Paris, très bon']],
    ['an emoji', '🎉', ['party 🎉🎉 tonight at 8']],
    ['mixed case', 'postgresql TRIGRAM', ['PostgreSQL Trigram Indexes']],
    ['part of a word', 'gram', ['PostgreSQL Trigram Indexes']],
    ['a phrase', '"new york"', ['new york pizza is the best']],
    [
      'the same words without quotes, in any order',
      'york new',
      ['the pizza of york is new', 'new york pizza is the best'],
    ],
    ['a percent sign literally', '100%', ['100% sure about that']],
    ['an underscore literally', 'a_b', ['snake a_b case']],
    ['a backslash literally', 'c:\\dir', ['path c:\\dir\\file']],
    ['a lone percent sign', '%', ['100% sure about that']],
    ['a lone underscore', '_', ['snake a_b case']],
  ])('finds %s', async (_, q, expected) => {
    expect(contents(await search(me, { q }))).toEqual(expected);
  });

  it('never finds another user’s messages, and they never find mine', async () => {
    expect((await search(me, { q: 'secretword' })).items).toEqual([]);
    expect(contents(await search(me, { q: '서울에서' }))).toEqual(['서울에서 친구를 만났어요']);
    expect(contents(await search(other, { q: '서울에서' }))).toEqual([
      'a secretword 서울에서 only for them',
    ]);
    expect((await search(other, { q: 'pizza' })).items).toEqual([]);
  });

  it('answers the message as the room shows it, with the room’s id and title', async () => {
    const page = await search(me, { q: 'brûlée' });
    const full = await t.http.get(`/api/chat-rooms/${room.id}`).set(me.auth).expect(200);
    const message = (full.body.messages as (Hit['message'] & { siblingIds: string[] })[]).find(
      (m) => m.id === posted.get('Crème brûlée à Paris, très bon'),
    );
    expect(page.items).toHaveLength(1);
    // A hit's message is the room's, but for siblingIds (a hit is opened by switching to it).
    const { siblingIds, ...rest } = message!;
    expect(siblingIds).toEqual([message!.id]);
    expect(page.items[0].message).toEqual(rest);
    expect(page.items[0].chatRoom).toEqual({ id: room.id, title: 'Everything' });
    expect(page.nextCursor).toBeNull();
  });

  it('lists newest first: every hit older than the one before', async () => {
    const page = await search(me, { q: 'e', limit: '50' });
    expect(page.items.length).toBeGreaterThan(5);
    const times = page.items.map((h) => h.message.createdAt);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('gives snippets and highlights: every occurrence, any case, surrogate pairs counted', async () => {
    const r = await createRoom(t.http, me, 'Snippets');
    const content = `😀 Echo echo ECHO 🎉 ${'filler words here '.repeat(30)}tail`;
    await postMessage(t.http, me, r.id, content);
    const [hit] = (await search(me, { q: 'echo' })).items;
    expect(hit.snippet.length).toBeLessThanOrEqual(200);
    expect(content.startsWith(hit.snippet)).toBe(true);
    expect(hit.highlights).toEqual([
      [3, 7],
      [8, 12],
      [13, 17],
    ]);

    const long = `${'word '.repeat(100)}간 NEEDLE 😀 in the 한국어 haystack ${'more '.repeat(100)}`;
    await postMessage(t.http, me, r.id, long);
    const [found] = (await search(me, { q: 'needle 한국어' })).items;
    expect(found.snippet.length).toBeLessThanOrEqual(200);
    expect(long).toContain(found.snippet);
    expect(found.snippet.isWellFormed()).toBe(true);
    expect(found.highlights.map(([a, b]) => found.snippet.slice(a, b))).toEqual([
      'NEEDLE',
      '한국어',
    ]);
    // The context before the first match is kept.
    expect(found.highlights[0][0]).toBeGreaterThan(20);
  });

  it('never cuts a surrogate pair at the snippet’s edges', async () => {
    const r = await createRoom(t.http, me, 'Emoji');
    for (const pad of ['', 'x']) {
      await postMessage(t.http, me, r.id, `${pad}${'😀'.repeat(120)}zebra${'🎉'.repeat(120)}`);
    }
    const page = await search(me, { q: 'zebra' });
    expect(page.items).toHaveLength(2);
    for (const hit of page.items) {
      expect(hit.snippet.isWellFormed()).toBe(true);
      expect(hit.snippet.length).toBeLessThanOrEqual(200);
      expect(hit.highlights.map(([a, b]) => hit.snippet.slice(a, b))).toEqual(['zebra']);
    }
  });

  it('pages with ties in createdAt: every hit once, in (createdAt, id) desc order', async () => {
    const user = await registerUser(t.http);
    // 3 rooms × 9 messages, all with the same timestamp (bulk SQL: the owner trigger fills owner_id).
    await seedRooms(t.db, user.id, 3, 9, { sameTimestamp: true });
    const seen: Hit[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await search(user, {
        q: 'message',
        limit: '4',
        ...(cursor ? { cursor } : {}),
      });
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items);
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== null && pages < 20);
    expect(pages).toBe(7);
    expect(seen).toHaveLength(27);
    expect(new Set(seen.map((h) => h.message.id)).size).toBe(27);
    const keys = seen.map((h) => `${h.message.createdAt}|${h.message.id}`);
    expect([...keys].sort().reverse()).toEqual(keys);
  });

  it('a full last page has no next cursor; a page that is not the last has one', async () => {
    const user = await registerUser(t.http);
    await seedRooms(t.db, user.id, 1, 4);
    const first = await search(user, { q: 'message', limit: '2' });
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = await search(user, { q: 'message', limit: '2', cursor: first.nextCursor! });
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
  });

  it('forgets a deleted room’s messages', async () => {
    const r = await createRoom(t.http, me, 'Doomed');
    await postMessage(t.http, me, r.id, 'ephemeral words 잠깐');
    expect(contents(await search(me, { q: 'ephemeral' }))).toHaveLength(1);
    await t.http.delete(`/api/chat-rooms/${r.id}`).set(me.auth).expect(204);
    expect((await search(me, { q: 'ephemeral' })).items).toEqual([]);
    expect((await search(me, { q: '잠깐' })).items).toEqual([]);
  });

  it('finds a message posted through the API at once (owner copied by the insert)', async () => {
    const r = await createRoom(t.http, me, 'Fresh');
    const m = await postMessage(t.http, me, r.id, 'brand-new quokka sighting');
    const { rows } = await t.db.query('SELECT owner_id FROM messages WHERE id = $1', [m.id]);
    expect(rows[0].owner_id).toBe(me.id);
    expect(contents(await search(me, { q: 'quokka' }))).toEqual(['brand-new quokka sighting']);
  });

  it.each([
    ['no q', {}],
    ['an empty q', { q: '' }],
    ['a q of 201 characters', { q: 'x'.repeat(201) }],
    ['a q of blanks only', { q: '   ' }],
    ['a q of empty quotes only', { q: '"" ""' }],
    ['a q with NUL', { q: 'a\u0000b' }],
    ['limit 0', { q: 'x', limit: '0' }],
    ['limit 51', { q: 'x', limit: '51' }],
    ['limit not a number', { q: 'x', limit: 'ten' }],
    ['limit 1e1', { q: 'x', limit: '1e1' }],
    ['a cursor of garbage', { q: 'x', cursor: '!!!' }],
    [
      'a base64 cursor of garbage',
      { q: 'x', cursor: Buffer.from('hello|world').toString('base64url') },
    ],
    [
      'a cursor with an impossible date',
      {
        q: 'x',
        cursor: Buffer.from(
          '2026-02-31T00:00:00.000Z|6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51',
        ).toString('base64url'),
      },
    ],
    ['a cursor of 201 characters', { q: 'x', cursor: 'A'.repeat(201) }],
    ['an unknown parameter', { q: 'x', sort: 'asc' }],
  ])('answers 400 for %s', async (_, params) => {
    const res = await t.http.get('/api/search').query(params).set(me.auth);
    expectErrorBody(res, 400);
  });

  it.each(['-1', '0', '51', 'ten', '1.5', '1e1'])(
    'answers limit=%s with one message',
    async (limit) => {
      const res = await t.http.get('/api/search').query({ q: 'x', limit }).set(me.auth);
      expectErrorBody(res, 400);
      expect(res.body.message).toEqual(['limit must be an integer from 1 to 50']);
    },
  );

  it('runs on a pooled connection, never queued on a pipelined one behind small statements', async () => {
    type Config = { text: string };
    const sql: unknown = t.app.get(Sql);
    const { pipeline, pool } = sql as {
      pipeline: { query: (config: Config) => unknown };
      pool: { query: (config: Config) => unknown };
    };
    const pipelined = jest.spyOn(pipeline, 'query');
    const pooled = jest.spyOn(pool, 'query');
    try {
      await t.http.get('/api/search?q=pizza').set(me.auth).expect(200);
      await t.http.get('/api/users/me').set(me.auth).expect(200);
      const isSearch = (config: Config) => config.text.includes('LEFT JOIN LATERAL');
      expect(pooled.mock.calls.filter(([config]) => isSearch(config))).toHaveLength(1);
      expect(pipelined.mock.calls.filter(([config]) => isSearch(config))).toHaveLength(0);
      // The route next to it still goes through the pipelined connections.
      expect(pipelined).toHaveBeenCalled();
    } finally {
      pipelined.mockRestore();
      pooled.mockRestore();
    }
  });

  it('answers 400 for a repeated q', async () => {
    const res = await t.http.get('/api/search?q=a&q=b').set(me.auth);
    expectErrorBody(res, 400);
  });

  it('answers 200 for q of exactly 200 characters and a limit of 50', async () => {
    const res = await t.http
      .get('/api/search')
      .query({ q: 'y'.repeat(200), limit: '50' })
      .set(me.auth);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [], nextCursor: null });
  });

  it('answers 401 without a token, and for a deleted user’s token', async () => {
    expectErrorBody(await t.http.get('/api/search?q=x'), 401);
    const gone = await registerUser(t.http);
    await t.http.delete('/api/users/me').set(gone.auth).expect(204);
    expectErrorBody(await t.http.get('/api/search?q=x').set(gone.auth), 401);
    expectErrorBody(await t.http.get('/api/search?q=xyz').set(gone.auth), 401);
  });

  it('is described in the OpenAPI document: parameters, 200, 400 and 401 bodies', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body;
    const op = doc.paths['/api/search'].get;
    expect(op.security).toEqual([{ bearer: [] }]);
    const params = Object.fromEntries(
      (op.parameters as { name: string; required: boolean; schema: object }[]).map((p) => [
        p.name,
        p,
      ]),
    );
    expect(params.q).toMatchObject({ required: true, schema: { minLength: 1, maxLength: 200 } });
    expect(params.limit).toMatchObject({ required: false, schema: { minimum: 1, maximum: 50 } });
    expect(params.cursor).toMatchObject({ required: false });
    const ref = (status: string) => op.responses[status].content['application/json'].schema.$ref;
    expect(ref('200')).toBe('#/components/schemas/SearchPageDto');
    expect(ref('400')).toBe('#/components/schemas/ErrorResponseDto');
    expect(ref('401')).toBe('#/components/schemas/ErrorResponseDto');
    const { SearchPageDto, SearchHitDto } = doc.components.schemas;
    expect(SearchPageDto.required).toEqual(expect.arrayContaining(['items', 'nextCursor']));
    expect(SearchPageDto.properties.nextCursor.nullable).toBe(true);
    expect(SearchHitDto.required).toEqual(
      expect.arrayContaining(['message', 'chatRoom', 'snippet', 'highlights']),
    );
    expect(SearchHitDto.properties.highlights.items).toMatchObject({ type: 'array', minItems: 2 });
    const rooms = doc.paths['/api/chat-rooms'].get.parameters as { name: string; schema: object }[];
    expect(rooms.find((p) => p.name === 'q')).toMatchObject({
      required: false,
      schema: { minLength: 1, maxLength: 200 },
    });
  });
});
