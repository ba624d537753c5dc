import type { AddressInfo, Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Client } from 'pg';
import { EXPORT_PAGE_BYTES } from '../../src/export/export.service';
import { SQL } from '../../src/export/export.repository';
import {
  allMessages,
  createRoom,
  getRoom,
  postInTree,
  seedRooms,
  type TreeMessage,
} from '../factories/chat';
import { registerUser, type RegisteredUser } from '../factories/users';
import { startTestApp, type TestApp } from '../helpers/app';
import { waitForLockWaiters } from '../helpers/database';
import { download } from '../helpers/download';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { expectNoLeaks, LogCapture } from '../helpers/leaks';
import { countQueries } from '../helpers/query-counter';

jest.setTimeout(180_000);

// A full garbage collection on demand: what the app holds, not the garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const roomExport = (roomId: string) => `/api/chat-rooms/${roomId}/export`;
const ACCOUNT_EXPORT = '/api/users/me/export';

/** A message as the export writes it, from the API's Message. */
const exported = (m: TreeMessage) => ({
  id: m.id,
  parentId: m.parentId,
  role: m.role,
  content: m.content,
  status: m.status,
  model: m.model,
  createdAt: m.createdAt,
});

/** Counts `pattern` in text that arrives in pieces (a match may straddle two). */
function counter(pattern: string) {
  let carry = '';
  let count = 0;
  return {
    add(text: string) {
      const joined = carry + text;
      for (let at = joined.indexOf(pattern); at >= 0; at = joined.indexOf(pattern, at + 1)) {
        count++;
      }
      carry = joined.slice(-(pattern.length - 1));
    },
    get count() {
      return count;
    },
  };
}

describe('export (e2e)', () => {
  let t: TestApp;
  let base: string;
  const logs = new LogCapture();
  /** The server's side of every connection made to the app. */
  const serverSockets = new Set<Socket>();

  beforeAll(async () => {
    t = await startTestApp({}, { logStream: logs.stream });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    t.app.getHttpServer().on('connection', (socket: Socket) => {
      serverSockets.add(socket);
      socket.on('close', () => serverSockets.delete(socket));
    });
  });
  afterAll(() => t.close());

  describe('the document', () => {
    it('holds a room with every branch, in conversation order, and the branch it shows', async () => {
      const user = await registerUser(t.http);
      const created = await t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .send({ title: 'Trip "to" Lisbon', systemPrompt: 'Be brief.\nReally.' })
        .expect(201);
      const roomId = created.body.id as string;
      const post = (body: { content: string; role?: string; parentId?: string | null }) =>
        postInTree(t.http, user, roomId, body);
      const first = await post({ content: 'What should I see in Lisbon?' });
      const reply = await post({ content: 'Belém and Alfama.', role: 'assistant' });
      // An edit of the first message: a new root, and a reply under it.
      const edited = await post({ content: 'What should I see in Porto?', parentId: null });
      const portoReply = await post({ content: 'The Ribeira.', role: 'assistant' });
      // A regenerated reply to the first question: a sibling of `reply`, now the active branch.
      const regenerated = await post({
        content: 'Sintra, too.',
        role: 'assistant',
        parentId: first.id,
      });
      const room = await getRoom(t.http, user, roomId);
      expect(room.activeMessageId).toBe(regenerated.id);

      const before = Date.now();
      const res = await t.http.get(roomExport(roomId)).set(user.auth).expect(200);
      const after = Date.now();

      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const exportedAt = res.body.exportedAt as string;
      expect(Date.parse(exportedAt)).toBeGreaterThanOrEqual(before - 1);
      expect(Date.parse(exportedAt)).toBeLessThanOrEqual(after);
      expect(new Date(exportedAt).toISOString()).toBe(exportedAt);
      expect(res.headers['content-disposition']).toBe(
        `attachment; filename="chat-export-${exportedAt.slice(0, 10)}.json"`,
      );
      // Streamed: chunked, with no length known in advance.
      expect(res.headers['transfer-encoding']).toBe('chunked');
      expect(res.headers['content-length']).toBeUndefined();

      const messages = [first, reply, edited, portoReply, regenerated];
      expect(res.body).toEqual({
        format: 'chat-backend.export',
        version: 1,
        exportedAt,
        rooms: [
          {
            id: roomId,
            title: 'Trip "to" Lisbon',
            createdAt: room.createdAt,
            updatedAt: room.updatedAt,
            model: null,
            systemPrompt: 'Be brief.\nReally.',
            activeMessageId: regenerated.id,
            messages: messages.map((m) => ({
              id: m.id,
              parentId: m.parentId,
              role: m.role,
              content: m.content,
              status: 'complete',
              model: null,
              createdAt: m.createdAt,
            })),
          },
        ],
      });
      // The same tree as the API's every-branch pages: parents, order, every branch.
      expect(res.body.rooms[0].messages).toEqual(
        (await allMessages(t.http, user, roomId)).map(exported),
      );
      expect(res.body.rooms[0].messages.map((m: { parentId: string }) => m.parentId)).toEqual([
        null,
        first.id,
        null,
        edited.id,
        first.id,
      ]);
    });

    it('writes any text as JSON: quotes, control characters, Korean, emoji, an empty room', async () => {
      const user = await registerUser(t.http);
      const room = await createRoom(t.http, user, '서울 😀 \\ "');
      const empty = await createRoom(t.http, user);
      const text = 'a "quote", a \\ backslash,\n\ttabs, \u0001, </script>, 서울에서 😀 é';
      const message = await postInTree(t.http, user, room.id, { content: text });

      const res = await t.http.get(roomExport(room.id)).set(user.auth).expect(200);
      expect(res.body.rooms[0].title).toBe('서울 😀 \\ "');
      expect(res.body.rooms[0].messages).toEqual([exported(message)]);
      expect(res.body.rooms[0].messages[0].content).toBe(text);
      // Escaped as JSON requires: the control character is \u0001, the rest as written.
      expect(res.text).toContain(JSON.stringify(text));

      const none = await t.http.get(roomExport(empty.id)).set(user.auth).expect(200);
      expect(none.body.rooms).toEqual([
        expect.objectContaining({ id: empty.id, activeMessageId: null, messages: [] }),
      ]);
    });

    it('exports every room of the caller, oldest first, and only theirs', async () => {
      const user = await registerUser(t.http);
      const other = await registerUser(t.http);
      const rooms = [];
      for (const title of ['one', 'two', 'three'])
        rooms.push(await createRoom(t.http, user, title));
      const a = await postInTree(t.http, user, rooms[0].id, { content: 'first of one' });
      const b = await postInTree(t.http, user, rooms[2].id, { content: 'first of three' });
      const c = await postInTree(t.http, user, rooms[2].id, {
        content: 'an edit',
        parentId: null,
      });
      const foreign = await createRoom(t.http, other, 'not yours');
      await postInTree(t.http, other, foreign.id, { content: 'secret' });

      const res = await t.http.get(ACCOUNT_EXPORT).set(user.auth).expect(200);
      expect(res.headers['content-disposition']).toMatch(
        /^attachment; filename="chat-export-\d{4}-\d{2}-\d{2}\.json"$/,
      );
      expect(res.body.format).toBe('chat-backend.export');
      expect(res.body.version).toBe(1);
      const got = res.body.rooms as { id: string; title: string; messages: unknown[] }[];
      // Oldest first: by createdAt, then id.
      const oldestFirst = [...rooms].sort(
        (x, y) => x.createdAt.localeCompare(y.createdAt) || (x.id < y.id ? -1 : 1),
      );
      expect(got.map((r) => r.id)).toEqual(oldestFirst.map((r) => r.id));
      const byTitle = new Map(got.map((r) => [r.title, r.messages]));
      expect([...byTitle.keys()].sort()).toEqual(['one', 'three', 'two']);
      expect(byTitle.get('one')).toEqual([exported(a)]);
      expect(byTitle.get('two')).toEqual([]);
      expect(byTitle.get('three')).toEqual([exported(b), exported(c)]);
      expect(res.text).not.toContain(foreign.id);
      expect(res.text).not.toContain('secret');

      // The other user's export holds only theirs; a user without rooms gets none.
      const theirs = await t.http.get(ACCOUNT_EXPORT).set(other.auth).expect(200);
      expect(theirs.body.rooms.map((r: { id: string }) => r.id)).toEqual([foreign.id]);
      const newcomer = await registerUser(t.http);
      const nothing = await t.http.get(ACCOUNT_EXPORT).set(newcomer.auth).expect(200);
      expect(nothing.body).toEqual({
        format: 'chat-backend.export',
        version: 1,
        exportedAt: expect.any(String),
        rooms: [],
      });
    });

    it('pages through an account with more rooms than a page, each room once, in order', async () => {
      const user = await registerUser(t.http);
      const ids = await seedRooms(t.db, user.id, 250, 1);
      const { result: res, sql } = await countQueries(() =>
        t.http.get(ACCOUNT_EXPORT).set(user.auth).expect(200),
      );
      const got = (res.body.rooms as { id: string; createdAt: string }[]).map((r) => r.id);
      // Seeded with one createdAt: in id order.
      expect(got).toEqual([...ids].sort());
      expect(sql.filter((text) => text === SQL.firstRooms.text)).toHaveLength(1);
      expect(sql.filter((text) => text === SQL.rooms.text)).toHaveLength(2);
      // Rooms of few messages are read together: a statement per 100 rooms here.
      expect(sql.filter((text) => text === SQL.messages.text)).toHaveLength(3);
    });

    it('reads small rooms together, pages cut by bytes across and inside rooms, empty rooms kept', async () => {
      const user = await registerUser(t.http);
      // Oldest first: two rooms of 60 messages of 2 KiB, an empty room, two more of 60. Read
      // as one group (240 messages), in pages of EXPORT_PAGE_BYTES: about 128 messages each.
      const content = (n: number) => `${n}`.padEnd(2048, '.');
      const first = await seedRooms(t.db, user.id, 2, 60, { content: content(1) });
      const empty = await seedRooms(t.db, user.id, 1, 0, {
        start: new Date('2026-01-02T00:00:00.000Z'),
      });
      const last = await seedRooms(t.db, user.id, 2, 60, {
        start: new Date('2026-01-03T00:00:00.000Z'),
        content: content(2),
      });
      const { result: res, sql } = await countQueries(() =>
        t.http.get(ACCOUNT_EXPORT).set(user.auth).expect(200),
      );
      const order = [...[...first].sort(), ...empty, ...[...last].sort()];
      const got = res.body.rooms as { id: string; messages: unknown[] }[];
      expect(got.map((r) => r.id)).toEqual(order);
      for (const room of got) {
        expect(room.messages).toEqual((await allMessages(t.http, user, room.id)).map(exported));
      }
      expect(got.map((r) => r.messages.length)).toEqual([60, 60, 0, 60, 60]);
      const pages = sql.filter((text) => text === SQL.messages.text).length;
      expect(pages).toBe(Math.ceil((240 * 2048) / EXPORT_PAGE_BYTES));
    });

    it('answers HEAD with the headers only, reading no message', async () => {
      const user = await registerUser(t.http);
      const room = await createRoom(t.http, user);
      await postInTree(t.http, user, room.id, { content: 'hello' });
      const { result: res, sql } = await countQueries(() =>
        t.http.head(roomExport(room.id)).set(user.auth),
      );
      expect(res.status).toBe(200);
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="chat-export-/);
      expect(sql.filter((text) => text === SQL.messages.text)).toHaveLength(0);
    });
  });

  describe('refusals', () => {
    let user: RegisteredUser;
    let roomId: string;
    beforeAll(async () => {
      user = await registerUser(t.http);
      roomId = (await createRoom(t.http, user)).id;
    });

    it('400 for a malformed id', async () => {
      const res = await t.http.get(roomExport('not-a-uuid')).set(user.auth);
      expectErrorBody(res, 400);
    });

    it('404 for another user’s room and for a room that does not exist, before any header of a download', async () => {
      const other = await registerUser(t.http);
      const theirs = await t.http.get(roomExport(roomId)).set(other.auth);
      expectErrorBody(theirs, 404);
      expect(theirs.headers['content-disposition']).toBeUndefined();
      const missing = await t.http
        .get(roomExport('00000000-0000-4000-8000-000000000000'))
        .set(user.auth);
      expectErrorBody(missing, 404);
    });

    it('401 without a token, and for a session that has ended (with rooms or without)', async () => {
      expectErrorBody(await t.http.get(ACCOUNT_EXPORT), 401);
      expectErrorBody(await t.http.get(roomExport(roomId)), 401);

      const ended = await registerUser(t.http);
      const room = await createRoom(t.http, ended);
      const roomless = await registerUser(t.http);
      for (const who of [ended, roomless]) {
        await t.http.post('/api/auth/logout').set('Cookie', who.refreshCookie).expect(204);
        const res = await t.http.get(ACCOUNT_EXPORT).set(who.auth);
        expectErrorBody(res, 401);
        expect(res.headers['content-disposition']).toBeUndefined();
      }
      expectErrorBody(await t.http.get(roomExport(room.id)).set(ended.auth), 401);
    });
  });

  describe('a large account', () => {
    const ROOMS = 30;
    const MESSAGES = 1000;
    const CONTENT = 'x'.repeat(1024);
    /** Messages of 1 KiB, a page of EXPORT_PAGE_BYTES: pages per room. */
    const PAGES_PER_ROOM = Math.ceil(MESSAGES / Math.floor(EXPORT_PAGE_BYTES / CONTENT.length));
    let user: RegisteredUser;
    const messagePages = (sql: readonly string[]) =>
      sql.filter((text) => text === SQL.messages.text).length;
    const queuedOnServer = () =>
      [...serverSockets].reduce((sum, socket) => sum + socket.writableLength, 0);

    beforeAll(async () => {
      user = await registerUser(t.http);
      await seedRooms(t.db, user.id, ROOMS, MESSAGES, { content: CONTENT });
      await t.db.query('VACUUM ANALYZE messages');
    });

    it('is streamed as it is read: in pages, a page at a time, in bounded memory', async () => {
      const messages = counter('"role":"');
      const rooms = counter('"activeMessageId":');
      const heldAt: { bytes: number; pages: number; heap: number; queued: number }[] = [];
      // The JavaScript heap and the Buffers outside it (what a socket queues is there).
      const memory = () => {
        const { heapUsed, arrayBuffers } = process.memoryUsage();
        return heapUsed + arrayBuffers;
      };
      gc();
      const memoryBefore = memory();

      const { result, sql } = await countQueries(async (sent) => {
        const body = await download(base, ACCOUNT_EXPORT, user.token, (text) => {
          messages.add(text);
          rooms.add(text);
        });
        expect(body.status).toBe(200);
        expect(body.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(body.headers['transfer-encoding']).toBe('chunked');
        expect(body.headers['content-length']).toBeUndefined();
        // Three times on the way, the client stops reading: once the server's writes back up
        // (it waits for 'drain'), what the app holds is measured.
        for (const mib of [1, 8, 15]) {
          await body.received(mib * 1024 * 1024);
          body.pause();
          // Settled: the server's socket holds what the kernel does not take, and no page has
          // been read since the last look (a server reading ahead would go on to the end).
          let pagesSeen = -1;
          await eventually(
            () => {
              const pages = messagePages(sent);
              const settled = queuedOnServer() > 0 && pages === pagesSeen;
              pagesSeen = pages;
              return settled;
            },
            { intervalMs: 50, message: 'the server waiting for the client' },
          );
          gc();
          heldAt.push({
            bytes: body.bytes,
            pages: messagePages(sent),
            heap: memory() - memoryBefore,
            queued: queuedOnServer(),
          });
          body.resume();
        }
        return { done: await body.done, bytes: body.bytes, head: body.head, tail: body.tail };
      });

      const size = ROOMS * MESSAGES * CONTENT.length;
      expect(result.done.complete).toBe(true);
      expect(result.bytes).toBeGreaterThan(size);
      expect(result.head).toMatch(/^\{"format":"chat-backend.export","version":1,"exportedAt":"/);
      expect(result.tail.endsWith('"}]}]}')).toBe(true);
      expect(rooms.count).toBe(ROOMS);
      expect(messages.count).toBe(ROOMS * MESSAGES);

      // Pages bounded by bytes: every room in PAGES_PER_ROOM statements, the rooms in one.
      expect(PAGES_PER_ROOM).toBe(4);
      expect(messagePages(sql)).toBe(ROOMS * PAGES_PER_ROOM);
      expect(sql.filter((text) => text === SQL.firstRooms.text)).toHaveLength(1);

      for (const held of heldAt) {
        // Written as read: the first bytes left long before the last page was read, and the
        // server read no further than what the socket took (plus the kernel's buffers).
        expect(held.pages).toBeLessThan(ROOMS * PAGES_PER_ROOM);
        expect(held.bytes).toBeLessThan(size);
        // What the app holds stays far below the 31 MB document: a page and its piece.
        expect(held.heap).toBeLessThan(8 * 1024 * 1024);
        expect(held.queued).toBeLessThan(2 * 1024 * 1024);
      }
      expect(heldAt[0].pages).toBeLessThan(heldAt[2].pages);
    });

    it('stops reading when the client goes away', async () => {
      const { sql } = await countQueries(async (sent) => {
        const body = await download(base, ACCOUNT_EXPORT, user.token);
        expect(body.status).toBe(200);
        await body.received(1024 * 1024);
        body.abort();
        await body.done;
        // The server notices, and the export ends there: no statement after that one.
        await eventually(() => logs.text.includes('export stopped'), {
          message: 'the export stopped',
        });
        const atStop = messagePages(sent);
        // A request behind it: anything the export still had queued would have been sent.
        await t.http.get('/api/users/me').set(user.auth).expect(200);
        await t.http.get('/api/users/me').set(user.auth).expect(200);
        expect(messagePages(sent)).toBe(atStop);
      });
      expect(messagePages(sql)).toBeGreaterThan(0);
      expect(messagePages(sql)).toBeLessThan((ROOMS * PAGES_PER_ROOM) / 2);
    });

    it('is cut off, never ended as if complete, when the database fails after the first bytes; the log says so without SQL', async () => {
      // The rooms are read (chat_rooms), then the first page of messages waits behind a lock
      // and is cancelled: the response has begun.
      const locker = new Client({ connectionString: t.databaseUrl });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE messages IN ACCESS EXCLUSIVE MODE');
        const body = await download(base, ACCOUNT_EXPORT, user.token);
        expect(body.status).toBe(200);
        await waitForLockWaiters(t.databaseUrl, 1);
        await t.db.query(
          `SELECT pg_cancel_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        const { complete } = await body.done;
        expect(complete).toBe(false);
        expect(body.head).toMatch(/^\{"format":"chat-backend.export","version":1,/);
        expect(() => JSON.parse(body.head) as unknown).toThrow();
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      const line = await eventually(() => logs.lines.find((l) => l.includes('export failed')));
      // query_canceled: the SQLSTATE, and the error's name only.
      expect(JSON.parse(line)).toMatchObject({ level: 50, context: 'Export', errCode: '57014' });
      expectNoLeaks(logs.text, [user.token]);
      expect(logs.text).not.toMatch(/canceling statement|octet_length|chat_room_id/);
      // The app serves the next export whole.
      const again = await download(base, ACCOUNT_EXPORT, user.token);
      expect((await again.done).complete).toBe(true);
    });
  });
});
