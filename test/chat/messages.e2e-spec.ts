import { createRoom, postMessage, seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

interface Msg {
  id: string;
  createdAt: string;
  content: string;
}

/** Conversation order: createdAt, then id. */
const inOrder = (messages: Msg[]) =>
  messages.every(
    (m, i) =>
      i === 0 ||
      messages[i - 1].createdAt < m.createdAt ||
      (messages[i - 1].createdAt === m.createdAt && messages[i - 1].id < m.id),
  );

describe('messages: order, cursors, concurrency (e2e)', () => {
  let t: TestApp;
  let user: RegisteredUser;

  beforeAll(async () => {
    t = await startTestApp();
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const page = (roomId: string, query: string) =>
    t.http.get(`/api/chat-rooms/${roomId}/messages?${query}`).set(user.auth);

  async function walk(
    roomId: string,
    direction: 'before' | 'after',
    limit: number,
  ): Promise<Msg[]> {
    // Start from the newest page going back, or from the very first message going forward.
    const seen: Msg[] = [];
    if (direction === 'before') {
      let res = await page(roomId, `limit=${limit}`).expect(200);
      seen.unshift(...res.body.items);
      while (res.body.hasMore) {
        res = await page(roomId, `limit=${limit}&before=${seen[0].id}`).expect(200);
        expect(res.body.items.length).toBeGreaterThan(0);
        seen.unshift(...res.body.items);
      }
    } else {
      const all = (await t.http.get(`/api/chat-rooms/${roomId}`).set(user.auth)).body
        .messages as Msg[];
      seen.push(all[0]);
      let res;
      do {
        res = await page(roomId, `limit=${limit}&after=${seen[seen.length - 1].id}`).expect(200);
        seen.push(...res.body.items);
      } while (res.body.hasMore);
    }
    return seen;
  }

  it('pages newest first without a cursor; items are oldest first', async () => {
    const [room] = await seedRooms(t.db, user.id, 1, 7);
    const res = await page(room, 'limit=3').expect(200);
    expect(res.body.items.map((m: Msg) => m.content)).toEqual([
      'message 5',
      'message 6',
      'message 7',
    ]);
    expect(res.body.hasMore).toBe(true);
    const all = await page(room, 'limit=7').expect(200);
    expect(all.body.hasMore).toBe(false);
    expect(all.body.items).toHaveLength(7);
  });

  it('before and after return the adjacent messages and say when more exist', async () => {
    const [room] = await seedRooms(t.db, user.id, 1, 10);
    const all = (await page(room, 'limit=10').expect(200)).body.items as Msg[];

    const older = await page(room, `limit=3&before=${all[5].id}`).expect(200);
    expect(older.body.items).toEqual(all.slice(2, 5));
    expect(older.body.hasMore).toBe(true);
    const oldest = await page(room, `limit=3&before=${all[2].id}`).expect(200);
    expect(oldest.body.items).toEqual(all.slice(0, 2));
    expect(oldest.body.hasMore).toBe(false);

    const newer = await page(room, `limit=3&after=${all[5].id}`).expect(200);
    expect(newer.body.items).toEqual(all.slice(6, 9));
    expect(newer.body.hasMore).toBe(true);
    const newest = await page(room, `limit=3&after=${all[6].id}`).expect(200);
    expect(newest.body.items).toEqual(all.slice(7));
    expect(newest.body.hasMore).toBe(false);
    const none = await page(room, `after=${all[9].id}`).expect(200);
    expect(none.body).toEqual({ items: [], hasMore: false });
  });

  it('never skips or repeats a message when many share one timestamp', async () => {
    const [room] = await seedRooms(t.db, user.id, 1, 95, { sameTimestamp: true });
    const reference = (await t.http.get(`/api/chat-rooms/${room}`).set(user.auth)).body
      .messages as Msg[];
    expect(reference).toHaveLength(95);
    expect(inOrder(reference)).toBe(true);
    expect(new Set(reference.map((m) => m.createdAt)).size).toBe(1);

    for (const limit of [1, 7, 50]) {
      const back = await walk(room, 'before', limit);
      expect(back.map((m) => m.id)).toEqual(reference.map((m) => m.id));
      const forward = await walk(room, 'after', limit);
      expect(forward.map((m) => m.id)).toEqual(reference.map((m) => m.id));
    }
  });

  it.each([
    ['both cursors', (ids: string[]) => `before=${ids[0]}&after=${ids[1]}`],
    ['a cursor from another room', (_ids: string[], other: string) => `before=${other}`],
    ['a cursor that is no message', () => 'after=00000000-0000-4000-8000-000000000000'],
    ['a malformed cursor', () => 'before=123'],
    ['limit 0', () => 'limit=0'],
    ['limit 201', () => 'limit=201'],
    ['an unknown parameter', () => 'since=yesterday'],
  ])('is 400 for %s', async (_case, query) => {
    const [room, otherRoom] = await seedRooms(t.db, user.id, 2, 3);
    const ids = ((await page(room, '')).body.items as Msg[]).map((m) => m.id);
    const other = ((await page(otherRoom, '')).body.items as Msg[])[0].id;
    expectErrorBody(await page(room, query(ids, other)), 400);
  });

  it.each(['-1', '0', '201', 'ten', '1.5', '1e1', ''])(
    'answers limit=%s with one message',
    async (limit) => {
      const [room] = await seedRooms(t.db, user.id, 1, 1);
      const res = await page(room, `limit=${limit}`);
      expectErrorBody(res, 400);
      expect(res.body.message).toEqual(['limit must be an integer from 1 to 200']);
    },
  );

  it('accepts limit 200', async () => {
    const [room] = await seedRooms(t.db, user.id, 1, 201);
    const res = await page(room, 'limit=200').expect(200);
    expect(res.body.items).toHaveLength(200);
    expect(res.body.hasMore).toBe(true);
  });

  it('keeps every one of dozens of simultaneous posts, each 201, in a total order', async () => {
    const room = await createRoom(t.http, user);
    const N = 40;
    const responses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        t.http
          .post(`/api/chat-rooms/${room.id}/messages`)
          .set(user.auth)
          .send({ content: `concurrent ${i}`, role: i % 2 ? 'assistant' : 'user' }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(N).fill(201));
    const ids = new Set(responses.map((r) => r.body.id as string));
    expect(ids.size).toBe(N);

    const stored = await t.db.query(
      'SELECT id, content, created_at FROM messages WHERE chat_room_id = $1',
      [room.id],
    );
    expect(stored.rowCount).toBe(N);
    expect(new Set(stored.rows.map((r) => r.content as string)).size).toBe(N);

    const res = await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth).expect(200);
    const messages = res.body.messages as Msg[];
    expect(messages).toHaveLength(N);
    expect(inOrder(messages)).toBe(true);
    // A room's messages never share a createdAt: the order is the order they were posted in.
    expect(new Set(messages.map((m) => m.createdAt)).size).toBe(N);
    expect(res.body.updatedAt).toBe(messages[N - 1].createdAt);
    const summary = await t.http.get('/api/chat-rooms?limit=100').set(user.auth).expect(200);
    const listed = summary.body.items.find((r: { id: string }) => r.id === room.id);
    expect(listed.messageCount).toBe(N);
    expect(listed.lastMessage).toEqual(messages[N - 1]);
  });

  it('posting to a room moves it to the top of the list', async () => {
    const fresh = await registerUser(t.http);
    const a = await createRoom(t.http, fresh, 'a');
    const b = await createRoom(t.http, fresh, 'b');
    const order = async () =>
      ((await t.http.get('/api/chat-rooms').set(fresh.auth)).body.items as { id: string }[]).map(
        (r) => r.id,
      );
    expect(await order()).toEqual([b.id, a.id]);
    await postMessage(t.http, fresh, a.id, 'bump');
    expect(await order()).toEqual([a.id, b.id]);
  });
});
