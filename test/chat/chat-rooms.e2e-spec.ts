import { createRoom, linkAsLines, postMessage, seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = '00000000-0000-4000-8000-000000000000';

describe('chat rooms (e2e)', () => {
  let t: TestApp;
  let alice: RegisteredUser;
  let bob: RegisteredUser;

  const count = async (table: 'chat_rooms' | 'messages' | 'users') =>
    Number((await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
  const snapshot = async () =>
    (
      await t.db.query(
        `SELECT (SELECT json_agg(r ORDER BY id) FROM chat_rooms r) AS rooms,
                (SELECT json_agg(m ORDER BY id) FROM messages m) AS messages`,
      )
    ).rows[0];

  beforeAll(async () => {
    t = await startTestApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(() => t.close());

  describe('POST /api/chat-rooms', () => {
    it('creates a room titled "New chat" by default, with no messages', async () => {
      const res = await t.http.post('/api/chat-rooms').set(alice.auth).send({}).expect(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        title: 'New chat',
        ownerId: alice.id,
        createdAt: expect.stringMatching(ISO),
        updatedAt: res.body.createdAt,
        model: null,
        systemPrompt: null,
        version: 1,
        activeMessageId: null,
        messages: [],
        hasMoreMessages: false,
      });
      expect(res.headers.etag).toBe('"1"');
    });

    it('trims the title and accepts 200 characters', async () => {
      expect((await createRoom(t.http, alice, '  Lisbon  ')).title).toBe('Lisbon');
      expect((await createRoom(t.http, alice, 't'.repeat(200))).title).toHaveLength(200);
    });

    it.each([
      ['an empty title', { title: '' }],
      ['a blank title', { title: '   ' }],
      ['a 201-character title', { title: 't'.repeat(201) }],
      ['a numeric title', { title: 42 }],
      ['a title with NUL', { title: 'a\u0000b' }],
      ['an unknown field', { title: 'ok', ownerId: MISSING }],
    ])('is 400 for %s and creates nothing', async (_case, body) => {
      const before = await count('chat_rooms');
      expectErrorBody(await t.http.post('/api/chat-rooms').set(alice.auth).send(body), 400);
      expect(await count('chat_rooms')).toBe(before);
    });
  });

  describe('GET /api/chat-rooms', () => {
    let user: RegisteredUser;
    let seeded: string[];
    beforeAll(async () => {
      user = await registerUser(t.http);
      seeded = await seedRooms(t.db, user.id, 25, 3);
    });

    it('pages the caller’s rooms, most recently active first, with total', async () => {
      const first = await t.http.get('/api/chat-rooms?limit=10').set(user.auth).expect(200);
      expect(first.body.total).toBe(25);
      expect(first.body.limit).toBe(10);
      expect(first.body.offset).toBe(0);
      expect(first.body.items.map((r: { id: string }) => r.id)).toEqual(seeded.slice(0, 10));

      const last = await t.http
        .get('/api/chat-rooms?limit=10&offset=20')
        .set(user.auth)
        .expect(200);
      expect(last.body.items.map((r: { id: string }) => r.id)).toEqual(seeded.slice(20));

      const beyond = await t.http.get('/api/chat-rooms?offset=100').set(user.auth).expect(200);
      expect(beyond.body).toEqual({ items: [], total: 25, limit: 20, offset: 100 });
    });

    it('answers ChatRoomSummary items with messageCount and lastMessage', async () => {
      const res = await t.http.get('/api/chat-rooms?limit=1').set(user.auth).expect(200);
      const [room] = res.body.items;
      expect(room).toEqual({
        id: seeded[0],
        title: expect.any(String),
        ownerId: user.id,
        createdAt: expect.stringMatching(ISO),
        updatedAt: expect.stringMatching(ISO),
        model: null,
        systemPrompt: null,
        version: 1,
        activeMessageId: room.lastMessage.id,
        messageCount: 3,
        lastMessage: {
          id: expect.stringMatching(UUID),
          chatRoomId: seeded[0],
          role: 'user',
          content: 'message 3',
          createdAt: expect.stringMatching(ISO),
          status: 'complete',
          model: null,
          generationId: null,
          parentId: expect.stringMatching(UUID),
          siblingIds: [room.lastMessage.id],
        },
      });
    });

    it('gives a room without messages lastMessage null and messageCount 0', async () => {
      const fresh = await registerUser(t.http);
      await createRoom(t.http, fresh);
      const res = await t.http.get('/api/chat-rooms').set(fresh.auth).expect(200);
      expect(res.body.items[0]).toMatchObject({ messageCount: 0, lastMessage: null });
      expect(res.body.items[0]).not.toHaveProperty('messages');
    });

    it('with include=messages carries each room’s newest 50 messages, oldest first', async () => {
      const heavy = await registerUser(t.http);
      const [big, small] = await seedRooms(t.db, heavy.id, 2, 60);
      await t.db.query('DELETE FROM messages WHERE chat_room_id = $1 AND content NOT IN ($2, $3)', [
        small,
        'message 1',
        'message 2',
      ]);
      await t.db.query('UPDATE chat_rooms SET message_count = 2 WHERE id = $1', [small]);

      const res = await t.http.get('/api/chat-rooms?include=messages').set(heavy.auth).expect(200);
      const [first, second] = res.body.items;
      expect(first.id).toBe(big);
      expect(first.messages.map((m: { content: string }) => m.content)).toEqual(
        Array.from({ length: 50 }, (_, i) => `message ${i + 11}`),
      );
      expect(first.lastMessage).toEqual(first.messages[49]);
      expect(first.messageCount).toBe(60);
      expect(second.messages.map((m: { content: string }) => m.content)).toEqual([
        'message 1',
        'message 2',
      ]);
    });

    it('never lists another user’s rooms', async () => {
      const res = await t.http.get('/api/chat-rooms?limit=100').set(bob.auth).expect(200);
      expect(res.body.items.every((r: { ownerId: string }) => r.ownerId === bob.id)).toBe(true);
      expect(res.body.items.some((r: { id: string }) => seeded.includes(r.id))).toBe(false);
    });

    it.each([
      'limit=0',
      'limit=101',
      'limit=abc',
      'limit=1.5',
      'limit=1e1',
      'limit=-1',
      'limit=',
      'limit=1&limit=2',
      'limit=99999999999999999999',
      'offset=-1',
      'offset=x',
      'offset=1000000001',
      'include=everything',
      'sort=title',
    ])('is 400 for ?%s', async (query) => {
      const res = await t.http.get(`/api/chat-rooms?${query}`).set(user.auth);
      expectErrorBody(res, 400);
      // One clear message for a bad number, not IsInt's, Min's and Max's at once.
      if (query.startsWith('limit=')) {
        expect(res.body.message).toEqual(['limit must be an integer from 1 to 100']);
      } else if (query.startsWith('offset=')) {
        expect(res.body.message).toEqual(['offset must be an integer from 0 to 1000000000']);
      }
    });
  });

  describe('GET /api/chat-rooms/:roomId', () => {
    it('answers the room with all its messages in conversation order', async () => {
      const room = await createRoom(t.http, alice, 'Order');
      const posted = [
        await postMessage(t.http, alice, room.id, 'first'),
        await postMessage(t.http, alice, room.id, 'second', 'assistant'),
        await postMessage(t.http, alice, room.id, 'third', 'system'),
      ];
      const res = await t.http.get(`/api/chat-rooms/${room.id}`).set(alice.auth).expect(200);
      expect(res.body).toEqual({
        id: room.id,
        title: 'Order',
        ownerId: alice.id,
        createdAt: room.createdAt,
        updatedAt: posted[2].createdAt,
        model: null,
        systemPrompt: null,
        version: 4,
        activeMessageId: posted[2].id,
        messages: posted,
        hasMoreMessages: false,
      });
    });

    it('embeds at most the newest 1,000 messages and says there are more', async () => {
      const user = await registerUser(t.http);
      const [exact, over] = await seedRooms(t.db, user.id, 2, 1000);
      await t.db.query(
        `INSERT INTO messages (chat_room_id, role, content, created_at)
         SELECT $1, 'user', 'extra ' || n, '2026-01-01T00:00:05Z'::timestamptz + n * interval '1 ms'
         FROM generate_series(1, 5) n`,
        [over],
      );
      await linkAsLines(t.db, [over]);

      const full = await t.http.get(`/api/chat-rooms/${exact}`).set(user.auth).expect(200);
      expect(full.body.messages).toHaveLength(1000);
      expect(full.body.hasMoreMessages).toBe(false);

      const capped = await t.http.get(`/api/chat-rooms/${over}`).set(user.auth).expect(200);
      expect(capped.body.hasMoreMessages).toBe(true);
      expect(capped.body.messages).toHaveLength(1000);
      expect(capped.body.messages[0].content).toBe('message 6');
      expect(capped.body.messages[999].content).toBe('extra 5');
    });
  });

  describe('PATCH /api/chat-rooms/:roomId', () => {
    it('renames the room and answers a ChatRoomSummary', async () => {
      const room = await createRoom(t.http, alice);
      const message = await postMessage(t.http, alice, room.id, 'hello');
      const res = await t.http
        .patch(`/api/chat-rooms/${room.id}`)
        .set(alice.auth)
        .send({ title: '  Renamed  ' })
        .expect(200);
      expect(res.body).toEqual({
        id: room.id,
        title: 'Renamed',
        ownerId: alice.id,
        createdAt: room.createdAt,
        updatedAt: expect.stringMatching(ISO),
        model: null,
        systemPrompt: null,
        version: 3,
        activeMessageId: message.id,
        messageCount: 1,
        lastMessage: message,
      });
      expect(res.headers.etag).toBe('"3"');
      expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(message.createdAt));
    });

    it.each([
      ['no title', {}],
      ['a null title', { title: null }],
      ['a blank title', { title: ' ' }],
      ['a 201-character title', { title: 'x'.repeat(201) }],
      ['an unknown field', { title: 'ok', messageCount: 5 }],
    ])('is 400 for %s and changes nothing', async (_case, body) => {
      const room = await createRoom(t.http, alice, 'Keep');
      const before = await snapshot();
      expectErrorBody(
        await t.http.patch(`/api/chat-rooms/${room.id}`).set(alice.auth).send(body),
        400,
      );
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('DELETE /api/chat-rooms/:roomId', () => {
    it('deletes the room and its messages', async () => {
      const room = await createRoom(t.http, alice);
      await postMessage(t.http, alice, room.id, 'bye');
      await t.http.delete(`/api/chat-rooms/${room.id}`).set(alice.auth).expect(204);
      expectErrorBody(await t.http.get(`/api/chat-rooms/${room.id}`).set(alice.auth), 404);
      const { rowCount } = await t.db.query('SELECT 1 FROM messages WHERE chat_room_id = $1', [
        room.id,
      ]);
      expect(rowCount).toBe(0);
      expectErrorBody(await t.http.delete(`/api/chat-rooms/${room.id}`).set(alice.auth), 404);
    });
  });

  describe('POST /api/chat-rooms/:roomId/messages', () => {
    it('adds the message and moves the room’s updatedAt to its createdAt', async () => {
      const room = await createRoom(t.http, alice);
      const res = await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(alice.auth)
        .send({ content: '  keep my spacing  ' })
        .expect(201);
      expect(res.body).toEqual({
        id: expect.stringMatching(UUID),
        chatRoomId: room.id,
        role: 'user',
        content: '  keep my spacing  ',
        createdAt: expect.stringMatching(ISO),
        status: 'complete',
        model: null,
        generationId: null,
        parentId: null,
        siblingIds: [res.body.id],
      });
      const { rows } = await t.db.query(
        'SELECT updated_at, message_count FROM chat_rooms WHERE id = $1',
        [room.id],
      );
      expect((rows[0].updated_at as Date).toISOString()).toBe(res.body.createdAt);
      expect(rows[0].message_count).toBe(1);
    });

    it('accepts every role and 32,000 characters of unicode', async () => {
      const room = await createRoom(t.http, alice);
      for (const role of ['user', 'assistant', 'system']) {
        expect((await postMessage(t.http, alice, room.id, 'x', role)).role).toBe(role);
      }
      const res = await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(alice.auth)
        .send({ content: '한'.repeat(32_000) })
        .expect(201);
      expect(res.body.content).toHaveLength(32_000);
    });

    // Characters are UTF-16 code units, as JSON and JavaScript count them: an emoji is two.
    it('accepts 16,000 emoji (32,000 UTF-16 code units) and stores them whole', async () => {
      const room = await createRoom(t.http, alice);
      const res = await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(alice.auth)
        .send({ content: '😀'.repeat(16_000) })
        .expect(201);
      expect(res.body.content).toBe('😀'.repeat(16_000));
    });

    it('counts a room title in UTF-16 code units too: 100 emoji pass, 101 do not', async () => {
      const res = await t.http
        .post('/api/chat-rooms')
        .set(alice.auth)
        .send({ title: ` ${'🌍'.repeat(100)} ` })
        .expect(201);
      expect(res.body.title).toBe('🌍'.repeat(100));
      const refused = await t.http
        .post('/api/chat-rooms')
        .set(alice.auth)
        .send({ title: '🌍'.repeat(101) });
      expectErrorBody(refused, 400);
      expect(refused.body.message).toEqual([
        'title must be shorter than or equal to 200 characters',
      ]);
    });

    it.each([
      ['no content', {}],
      ['empty content', { content: '' }],
      ['whitespace-only content', { content: ' \n\t ' }],
      ['32,001 characters', { content: 'x'.repeat(32_001) }],
      ['16,001 emoji (32,002 UTF-16 code units)', { content: '😀'.repeat(16_001) }],
      ['numeric content', { content: 7 }],
      ['content with NUL', { content: 'a\u0000b' }],
      ['content with a lone surrogate', { content: 'a\ud800b' }],
      ['an unknown role', { content: 'hi', role: 'admin' }],
      ['an unknown field', { content: 'hi', createdAt: '2020-01-01T00:00:00Z' }],
    ])('is 400 for %s and changes nothing', async (_case, body) => {
      const room = await createRoom(t.http, alice);
      const before = await snapshot();
      expectErrorBody(
        await t.http.post(`/api/chat-rooms/${room.id}/messages`).set(alice.auth).send(body),
        400,
      );
      expect(await snapshot()).toEqual(before);
    });
  });

  describe('every route', () => {
    let room: { id: string };
    let message: { id: string };
    beforeAll(async () => {
      room = await createRoom(t.http, alice, 'Private');
      message = await postMessage(t.http, alice, room.id, 'secret');
    });

    type Route = readonly [string, () => string, object | undefined];
    const routes = (id: () => string): Route[] => [
      ['GET', () => `/api/chat-rooms/${id()}`, undefined],
      ['PATCH', () => `/api/chat-rooms/${id()}`, { title: 'pwned' }],
      ['DELETE', () => `/api/chat-rooms/${id()}`, undefined],
      ['POST', () => `/api/chat-rooms/${id()}/messages`, { content: 'pwned' }],
      ['GET', () => `/api/chat-rooms/${id()}/messages`, undefined],
    ];
    const send = (method: string, url: string, body?: object) => {
      const req = t.http[method.toLowerCase() as 'get' | 'patch' | 'delete' | 'post'](url);
      return body ? req.send(body) : req;
    };

    it.each<Route>([
      ...routes(() => room.id),
      ['GET', () => '/api/chat-rooms', undefined],
      ['POST', () => '/api/chat-rooms', {}],
    ])('%s is 401 without a token', async (method, url, body) => {
      expectErrorBody(await send(method, url(), body), 401);
    });

    it.each(routes(() => room.id))(
      '%s is 404 for another user’s room and changes nothing',
      async (method, url, body) => {
        const before = await snapshot();
        const res = await send(method, url(), body).set(bob.auth);
        expectErrorBody(res, 404);
        const missing = await send(method, url().replace(room.id, MISSING), body).set(bob.auth);
        expect(missing.body).toEqual(res.body); // indistinguishable from a room that does not exist
        expect(await snapshot()).toEqual(before);
      },
    );

    it.each(routes(() => 'not-a-uuid'))(
      '%s is 400 for a malformed id',
      async (method, url, body) => {
        expectErrorBody(await send(method, url(), body).set(alice.auth), 400);
      },
    );

    it('the owner still sees the room untouched', async () => {
      const res = await t.http.get(`/api/chat-rooms/${room.id}`).set(alice.auth).expect(200);
      expect(res.body.title).toBe('Private');
      expect(res.body.messages.map((m: { id: string }) => m.id)).toEqual([message.id]);
    });
  });

  describe('deleting a user', () => {
    it('deletes their rooms and messages, and only theirs', async () => {
      const carol = await registerUser(t.http);
      const room = await createRoom(t.http, carol);
      await postMessage(t.http, carol, room.id, 'soon gone');
      const othersBefore = await t.db.query(
        'SELECT count(*)::int AS n FROM chat_rooms WHERE owner_id <> $1',
        [carol.id],
      );

      await t.http.delete('/api/users/me').set(carol.auth).expect(204);
      const rooms = await t.db.query('SELECT 1 FROM chat_rooms WHERE owner_id = $1', [carol.id]);
      const messages = await t.db.query('SELECT 1 FROM messages WHERE chat_room_id = $1', [
        room.id,
      ]);
      expect(rooms.rowCount).toBe(0);
      expect(messages.rowCount).toBe(0);
      const othersAfter = await t.db.query(
        'SELECT count(*)::int AS n FROM chat_rooms WHERE owner_id <> $1',
        [carol.id],
      );
      expect(othersAfter.rows[0].n).toBe(othersBefore.rows[0].n);
      expectErrorBody(await t.http.get('/api/chat-rooms').set(carol.auth), 401);
    });

    // Chat routes do not look the caller up before they run; each must still refuse the token.
    it('makes their token 401 on every chat route, and nothing changes', async () => {
      const dave = await registerUser(t.http);
      const room = await createRoom(t.http, dave);
      const message = await postMessage(t.http, dave, room.id, 'hello');
      const bobsRoom = await createRoom(t.http, bob);
      await t.http.delete('/api/users/me').set(dave.auth).expect(204);
      const before = await snapshot();
      const usersBefore = await count('users');

      for (const id of [room.id, bobsRoom.id, MISSING]) {
        const routes = [
          t.http.get(`/api/chat-rooms/${id}`),
          t.http.patch(`/api/chat-rooms/${id}`).send({ title: 'mine now' }),
          t.http.delete(`/api/chat-rooms/${id}`),
          t.http.post(`/api/chat-rooms/${id}/messages`).send({ content: 'still here?' }),
          t.http.get(`/api/chat-rooms/${id}/messages`),
          t.http.get(`/api/chat-rooms/${id}/messages?before=${message.id}`),
        ];
        for (const request of routes) expectErrorBody(await request.set(dave.auth), 401);
      }
      for (const request of [
        t.http.get('/api/chat-rooms'),
        t.http.get('/api/chat-rooms?include=messages&offset=5'),
        t.http.post('/api/chat-rooms').send({ title: 'a new start' }),
        t.http.post('/api/chat-rooms').send({}),
      ]) {
        expectErrorBody(await request.set(dave.auth), 401);
      }
      expect(await snapshot()).toEqual(before);
      expect(await count('users')).toBe(usersBefore);
    });
  });
});
