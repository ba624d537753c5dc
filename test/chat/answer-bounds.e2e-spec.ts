import { seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { PREVIEW_CHARS } from '../../src/chat/chat-rooms.repository';
import { ANSWER_CONTENT_BYTES } from '../../src/chat/chat-rooms.service';

/** 32,000 × U+0001: the most a message may hold, escaped to six bytes each in JSON. */
const HOSTILE = '\u0001'.repeat(32_000);

interface Message {
  id: string;
  content: string;
  createdAt: string;
  truncated?: boolean;
}

const bytesOf = (messages: Message[]) =>
  messages.reduce((n, m) => n + Buffer.byteLength(m.content), 0);

/**
 * Every answer is bounded in bytes, not only in rows: messages of the largest storable kind
 * cannot make a room read, a message page or a room list unbounded (or a 500).
 */
describe('answer bounds (e2e)', () => {
  let t: TestApp;
  let user: RegisteredUser;
  let room: string;

  beforeAll(async () => {
    t = await startTestApp();
    user = await registerUser(t.http);
    // 200 hostile messages: 6.4 MB stored, 38 MB as JSON if embedded whole.
    [room] = await seedRooms(t.db, user.id, 1, 200, { content: HOSTILE });
  });
  afterAll(() => t.close());

  it('a room read embeds the newest messages up to the budget, then says there are more', async () => {
    const res = await t.http.get(`/api/chat-rooms/${room}`).set(user.auth).expect(200);
    const messages = res.body.messages as Message[];
    expect(res.body.hasMoreMessages).toBe(true);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.length).toBeLessThan(200);
    expect(bytesOf(messages)).toBeLessThanOrEqual(ANSWER_CONTENT_BYTES + HOSTILE.length);
    expect(res.text.length).toBeLessThan(7 * (ANSWER_CONTENT_BYTES + HOSTILE.length));
    // Whole messages, and the newest ones: the last is the room's newest.
    expect(messages.every((m) => m.content === HOSTILE)).toBe(true);
    const page = await t.http
      .get(`/api/chat-rooms/${room}/messages?limit=1`)
      .set(user.auth)
      .expect(200);
    expect(messages[messages.length - 1].id).toBe(page.body.items[0].id);
  });

  it('message pages are cut by the budget too, and paging still reaches every message', async () => {
    const seen = new Set<string>();
    let before: string | undefined;
    let pages = 0;
    for (;;) {
      const res = await t.http
        .get(`/api/chat-rooms/${room}/messages?limit=200${before ? `&before=${before}` : ''}`)
        .set(user.auth)
        .expect(200);
      const items = res.body.items as Message[];
      expect(items.length).toBeGreaterThan(0);
      expect(bytesOf(items)).toBeLessThanOrEqual(ANSWER_CONTENT_BYTES + HOSTILE.length);
      for (const m of items) seen.add(m.id);
      pages += 1;
      if (!res.body.hasMore) break;
      before = items[0].id;
    }
    expect(seen.size).toBe(200);
    expect(pages).toBeGreaterThan(1);

    // Forwards from the oldest: the same messages, in order.
    const oldest = await t.db.query<{ id: string }>(
      'SELECT id FROM messages WHERE chat_room_id = $1 ORDER BY created_at, id LIMIT 1',
      [room],
    );
    const after = await t.http
      .get(`/api/chat-rooms/${room}/messages?limit=200&after=${oldest.rows[0].id}`)
      .set(user.auth)
      .expect(200);
    expect(after.body.hasMore).toBe(true);
    expect(after.body.items.length).toBeLessThan(199);
    const times = (after.body.items as Message[]).map((m) => m.createdAt);
    expect([...times].sort()).toEqual(times);
  });

  it('a page of rooms with include=messages shares one budget; previews are cut and marked', async () => {
    const other = await registerUser(t.http);
    await seedRooms(t.db, other.id, 100, 50, { content: HOSTILE });
    const res = await t.http
      .get('/api/chat-rooms?include=messages&limit=100')
      .set(other.auth)
      .expect(200);
    const items = res.body.items as {
      messages: Message[];
      hasMoreMessages: boolean;
      messageCount: number;
      lastMessage: Message;
    }[];
    expect(items).toHaveLength(100);
    const embedded = items.flatMap((room) => room.messages);
    expect(embedded.length).toBeGreaterThan(0);
    expect(bytesOf(embedded)).toBeLessThanOrEqual(ANSWER_CONTENT_BYTES + HOSTILE.length);
    // 100 × 50 × 192 KB would be 960 MB; 100 previews and the budget are a few MB.
    expect(res.text.length).toBeLessThan(20 * 1024 * 1024);
    // Rooms are served in page order: the first is full, the last carries none and says so.
    expect(items[0].messages).toHaveLength(50);
    expect(items[99].messages).toHaveLength(0);
    expect(items[99].hasMoreMessages).toBe(true);
    for (const room of items) {
      expect(room.lastMessage.content).toBe(HOSTILE.slice(0, PREVIEW_CHARS));
      expect(room.lastMessage.truncated).toBe(true);
      // The mark follows the content it qualifies, as the contract shows it.
      expect(Object.keys(room.lastMessage).indexOf('truncated')).toBe(
        Object.keys(room.lastMessage).indexOf('content') + 1,
      );
    }
  });

  it('small messages are embedded whole and previews are not marked', async () => {
    const small = await registerUser(t.http);
    await seedRooms(t.db, small.id, 3, 60);
    const res = await t.http
      .get('/api/chat-rooms?include=messages&limit=100')
      .set(small.auth)
      .expect(200);
    for (const room of res.body.items) {
      expect(room.messages).toHaveLength(50);
      expect(room.hasMoreMessages).toBe(true);
      expect(room.lastMessage.truncated).toBeUndefined();
    }
  });

  it('a search page carries fewer hits when they are large, and paging still finds them all', async () => {
    const searcher = await registerUser(t.http);
    // Replies may be longer than posted messages: 60 hits of 100,000 bytes.
    const reply = 'needle ' + 'x'.repeat(99_993);
    await seedRooms(t.db, searcher.id, 1, 60, { content: reply });
    const seen = new Set<string>();
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { body: { items: unknown[]; nextCursor: string | null } } = await t.http
        .get(`/api/search?q=needle&limit=50${cursor ? `&cursor=${cursor}` : ''}`)
        .set(searcher.auth)
        .expect(200);
      const items = res.body.items as { message: Message }[];
      expect(items.length).toBeGreaterThan(0);
      expect(bytesOf(items.map((hit) => hit.message))).toBeLessThanOrEqual(
        ANSWER_CONTENT_BYTES + reply.length,
      );
      for (const hit of items) seen.add(hit.message.id);
      cursor = res.body.nextCursor;
      pages += 1;
    } while (cursor);
    expect(seen.size).toBe(60);
    expect(pages).toBeGreaterThan(2);
  });

  it('a preview is cut in UTF-16 code units and never splits a surrogate pair', async () => {
    const owner = await registerUser(t.http);
    const emoji = '😀'.repeat(1500); // 3,000 code units
    const cases = ['a'.repeat(PREVIEW_CHARS - 1) + emoji, 'b' + emoji];
    for (const content of cases) {
      const [id] = await seedRooms(t.db, owner.id, 1, 1, { content });
      const res = await t.http.get('/api/chat-rooms?limit=100').set(owner.auth).expect(200);
      const preview = res.body.items.find((r: { id: string }) => r.id === id).lastMessage;
      expect(preview.truncated).toBe(true);
      expect(preview.content.length).toBeLessThanOrEqual(PREVIEW_CHARS);
      expect(preview.content.length).toBeGreaterThanOrEqual(PREVIEW_CHARS - 1);
      expect(preview.content.isWellFormed()).toBe(true);
      expect(content.startsWith(preview.content)).toBe(true);
    }
  });
});
