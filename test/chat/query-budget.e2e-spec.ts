import { seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { countQueries } from '../helpers/query-counter';

/**
 * The number of SQL statements per request is fixed: it must not grow with rooms or messages.
 * No route has a separate look-up of the caller: its first statement proves the session live
 * (live_session). docs/architecture.md lists these numbers.
 */
describe('query budget (e2e)', () => {
  let t: TestApp;
  let small: RegisteredUser;
  let large: RegisteredUser;
  let smallRooms: string[];
  let largeRooms: string[];

  beforeAll(async () => {
    t = await startTestApp();
    small = await registerUser(t.http);
    large = await registerUser(t.http);
    smallRooms = await seedRooms(t.db, small.id, 1, 1);
    largeRooms = await seedRooms(t.db, large.id, 100, 50);
  });
  afterAll(() => t.close());

  async function statements(
    user: RegisteredUser,
    method: 'get' | 'post' | 'put' | 'patch' | 'delete',
    url: string,
    body?: object,
    headers: Record<string, string> = {},
  ) {
    const { result, count } = await countQueries(async () => {
      const req = t.http[method](url).set(user.auth).set(headers);
      return body ? req.send(body) : req;
    });
    expect(result.status).toBeLessThan(300);
    return count;
  }

  it('list with include=messages: the same for 1 room as for 100 rooms of 50 messages', async () => {
    const one = await statements(small, 'get', '/api/chat-rooms?include=messages&limit=100');
    const hundred = await statements(large, 'get', '/api/chat-rooms?include=messages&limit=100');
    expect(hundred).toBe(one);
    expect(hundred).toBe(2);
  });

  it('list without messages: 1 statement', async () => {
    expect(await statements(small, 'get', '/api/chat-rooms')).toBe(1);
    expect(await statements(large, 'get', '/api/chat-rooms?limit=100')).toBe(1);
  });

  it('get one room: the same for 0 and 1,000 messages', async () => {
    const user = await registerUser(t.http);
    const [empty] = await seedRooms(t.db, user.id, 1, 0);
    const [full] = await seedRooms(t.db, user.id, 1, 1000);
    const none = await statements(user, 'get', `/api/chat-rooms/${empty}`);
    const thousand = await statements(user, 'get', `/api/chat-rooms/${full}`);
    expect(thousand).toBe(none);
    expect(thousand).toBe(2);
  });

  it('message pages, posts, creates and renames: fixed counts', async () => {
    const [room] = largeRooms;
    const first = await t.http.get(`/api/chat-rooms/${room}/messages?limit=10`).set(large.auth);
    const cursor = first.body.items[0].id as string;
    expect(await statements(large, 'get', `/api/chat-rooms/${room}/messages?limit=10`)).toBe(2);
    expect(
      await statements(large, 'get', `/api/chat-rooms/${room}/messages?limit=10&before=${cursor}`),
    ).toBe(2);
    expect(
      await statements(large, 'post', `/api/chat-rooms/${room}/messages`, { content: 'hi' }),
    ).toBe(1);
    expect(await statements(large, 'post', '/api/chat-rooms', { title: 'new' })).toBe(1);
    expect(await statements(large, 'patch', `/api/chat-rooms/${room}`, { title: 'renamed' })).toBe(
      1,
    );
    expect(
      await statements(large, 'patch', `/api/chat-rooms/${room}`, {
        model: null,
        systemPrompt: 'Be brief.',
      }),
    ).toBe(1);
    expect(await statements(small, 'get', `/api/chat-rooms/${smallRooms[0]}`)).toBe(2);
  });

  it('v3 branches: fixed counts, whatever the size of the room or of its tree', async () => {
    const user = await registerUser(t.http);
    const [big] = await seedRooms(t.db, user.id, 1, 1000);
    const [tiny] = await seedRooms(t.db, user.id, 1, 3);
    for (const roomId of [tiny, big]) {
      const room = `/api/chat-rooms/${roomId}`;
      const all = await t.http.get(`${room}/messages?branch=all&limit=200`).set(user.auth);
      const items = all.body.items as { id: string; parentId: string | null }[];
      const middle = items[1];
      // An edit (a post under a parent), a switch back, with If-Match; the pages of all branches.
      const { version } = (await t.http.get(room).set(user.auth)).body as { version: number };
      expect(
        await statements(
          user,
          'post',
          `${room}/messages`,
          { content: 'edit', parentId: middle.parentId },
          { 'If-Match': `"${version}"` },
        ),
      ).toBe(1);
      expect(
        await statements(
          user,
          'put',
          `${room}/active-message`,
          { messageId: middle.id },
          {
            'If-Match': `"${version + 1}"`,
          },
        ),
      ).toBe(2);
      expect(await statements(user, 'get', `${room}/messages?branch=all&limit=10`)).toBe(2);
      expect(
        await statements(user, 'get', `${room}/messages?branch=all&limit=10&before=${middle.id}`),
      ).toBe(2);
      expect(await statements(user, 'post', `${room}/fork`, { messageId: middle.id })).toBe(2);
      expect(await statements(user, 'delete', `${room}/messages/${items.at(-1)!.id}`)).toBe(1);
    }
  });

  it('a stale If-Match: the write and the look-up that tells 412 from 404', async () => {
    const [room] = await seedRooms(t.db, small.id, 1, 2);
    const stale = { 'If-Match': '"999"' };
    const { count } = await countQueries(() =>
      t.http.patch(`/api/chat-rooms/${room}`).set(small.auth).set(stale).send({ title: 'x' }),
    );
    expect(count).toBe(2);
  });

  it('room list with q: 1 statement, 2 when nothing matches (the total and the caller)', async () => {
    expect(await statements(large, 'get', '/api/chat-rooms?q=seeded&limit=100')).toBe(1);
    expect(await statements(large, 'get', '/api/chat-rooms?q=zzzz')).toBe(2);
  });

  it('search: 1 statement, for 1 or 5,000 messages, any terms, with or without hits', async () => {
    const cases = [
      'message',
      'message 1',
      '"message 12"',
      'mess age',
      'ess',
      'x',
      'nothing-like-this',
      'a b c d e f g',
    ];
    for (const q of cases) {
      const path = `/api/search?q=${encodeURIComponent(q)}&limit=50`;
      expect([q, await statements(small, 'get', path)]).toEqual([q, 1]);
      expect([q, await statements(large, 'get', path)]).toEqual([q, 1]);
    }
    const page = await t.http.get('/api/search?q=message&limit=5').set(large.auth).expect(200);
    const next = `/api/search?q=message&limit=5&cursor=${page.body.nextCursor as string}`;
    expect(await statements(large, 'get', next)).toBe(1);
  });

  it('with an Idempotency-Key: one statement, as without; a retry reads the stored answer', async () => {
    const keyed = async (url: string, body: object, key: string) => {
      const { result, count, sql } = await countQueries(() =>
        t.http.post(url).set(large.auth).set('Idempotency-Key', key).send(body),
      );
      expect(result.status).toBe(201);
      return { count, sql };
    };
    // The key's lock and row, the route's writes and the stored answer, in one statement.
    const first = await keyed('/api/chat-rooms', { title: 'keyed' }, 'budget-room');
    expect(first.count).toBe(1);
    expect(first.sql[0]).toMatch(/idempotency_keys/);
    // The same statement finds the answer and writes nothing.
    expect((await keyed('/api/chat-rooms', { title: 'keyed' }, 'budget-room')).count).toBe(1);
    const url = `/api/chat-rooms/${largeRooms[0]}/messages`;
    expect((await keyed(url, { content: 'keyed' }, 'budget-message')).count).toBe(1);
    expect((await keyed(url, { content: 'keyed' }, 'budget-message')).count).toBe(1);
  });

  it('account and session routes: 1 statement each, the session checked inside it', async () => {
    const user = await registerUser(t.http);
    expect(await statements(user, 'get', '/api/users/me')).toBe(1);
    expect(await statements(user, 'get', '/api/auth/sessions')).toBe(1);
    expect(await statements(user, 'get', '/api/users/me/usage')).toBe(1);
    // Nothing to revoke: one more, to tell 204 from 401.
    expect(await statements(user, 'delete', '/api/auth/sessions')).toBe(2);
  });
});
