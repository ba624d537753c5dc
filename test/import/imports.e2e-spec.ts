import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import type { Response } from 'supertest';
import {
  allMessages,
  createRoom,
  getRoom,
  postInTree,
  seedRooms,
  switchBranch,
} from '../factories/chat';
import { registerUser, type RegisteredUser } from '../factories/users';
import { startTestApp, type TestApp } from '../helpers/app';
import {
  type ExpectedRoom,
  expectedChatGptRoom,
  MAX_IMPORTED_CONTENT,
  messageKey,
} from '../helpers/chatgpt-expected';
import {
  CHATGPT_FIXTURES,
  type ChatGptFixture,
  chatGptFixture,
  chatGptFixtureText,
  conversationsJson,
} from '../helpers/chatgpt-fixtures';
import { eventually } from '../helpers/eventually';
import { type ExportRoom, exportShape } from '../helpers/export-shape';
import { expectErrorBody } from '../helpers/expect-error';
import { type ZipEntryInput, zipBytes } from '../helpers/zip-writer';

import type { ImportResponseDto } from '../../src/import/dto/import-response.dto';

jest.setTimeout(60_000);

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = '00000000-0000-4000-8000-000000000000';
const JSON_TYPE = 'application/json';
const ZIP_TYPE = 'application/zip';
const IMPORTS = '/api/imports';

type ImportBody = ImportResponseDto;

interface ExportDocument {
  format: string;
  version: number;
  rooms: ExportRoom[];
}

/** The other files of a ChatGPT data export, which an import passes over. */
const EXPORT_COMPANIONS: ZipEntryInput[] = [
  { name: 'user.json', data: '{"id":"user-abc","email":"baker@example.com"}' },
  { name: 'chat.html', data: '<html><body>…</body></html>' },
  { name: 'message_feedback.json', data: '[]' },
  { name: 'file-7Hk2mQ9xY3zR1aB4cD5eF6-loaf.jpg', data: Buffer.alloc(2048, 0xd8), method: 'store' },
  { name: 'dalle-generations/', data: '', method: 'store' },
];

/** ChatGPT's ZIP as downloaded: conversations.json among the other files. */
const chatGptZip = () =>
  zipBytes([
    ...EXPORT_COMPANIONS.slice(0, 2),
    { name: 'conversations.json', data: conversationsJson() },
    ...EXPORT_COMPANIONS.slice(2),
  ]);

/** A large export's ZIP: conversations-000.json, … in a folder, listed out of number order. */
const shardedZip = () => {
  const folder = 'Export 2025-06-01';
  return zipBytes([
    ...EXPORT_COMPANIONS,
    {
      name: `${folder}/conversations-002.json`,
      data: conversationsJson(CHATGPT_FIXTURES.slice(9)),
    },
    {
      name: `${folder}/conversations-000.json`,
      data: conversationsJson(CHATGPT_FIXTURES.slice(0, 5)),
    },
    {
      name: `${folder}/conversations-001.json`,
      data: conversationsJson(CHATGPT_FIXTURES.slice(5, 9)),
      method: 'store',
    },
  ]);
};

const byTitle = (rooms: ExportRoom[]) => [...rooms].sort((a, b) => (a.title < b.title ? -1 : 1));

/** Resolves with `promise`, or fails after `ms` with `what`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Posts with `Transfer-Encoding: chunked` (no Content-Length to refuse it by). */
function chunkedUpload(
  base: string,
  token: string,
  type: string,
  pieces: Buffer[],
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${IMPORTS}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': type,
        'transfer-encoding': 'chunked',
      },
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (piece: string) => (text += piece));
      const done = () => resolve({ status: res.statusCode ?? 0, text });
      res.on('end', done);
      res.on('error', done);
    });
    // The server may close the connection once it has answered, before the upload ends.
    req.on('error', (error) => (answered ? undefined : reject(error)));
    for (const piece of pieces) req.write(piece);
    req.end();
  });
}

/**
 * POST /api/imports and GET /api/imports[/:id] through HTTP on a real PostgreSQL: ChatGPT's
 * files (conversations.json, its ZIP, a sharded ZIP) become rooms with their whole trees; our
 * own export comes back as the same trees; a second import skips; broken, oversized and
 * hostile files are refused or fail without leaving half a conversation; one import at a time.
 */
describe('imports (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ IMPORT_POLL_MS: '200' });
  });
  afterAll(() => t.close());

  const postImport = async (
    user: RegisteredUser | null,
    body: Buffer | string,
    type = JSON_TYPE,
  ): Promise<Response> => {
    let req = t.http.post(IMPORTS);
    if (user) req = req.set(user.auth);
    const res = await req
      .set('Content-Type', type)
      // The bytes as they are: superagent would otherwise serialise a Buffer as JSON.
      .serialize((data: unknown) => data as string)
      .send(Buffer.from(body));
    expect(res.status).toBeLessThan(500);
    return res;
  };

  /** A POST that is accepted: 202, Location, an Import just begun. */
  const startImport = async (
    user: RegisteredUser,
    body: Buffer | string,
    type = JSON_TYPE,
  ): Promise<ImportBody> => {
    const res = await postImport(user, body, type);
    expect(res.status).toBe(202);
    const started = res.body as ImportBody;
    expect(started.id).toMatch(UUID);
    expect(res.headers.location).toBe(`/api/imports/${started.id}`);
    expect(['queued', 'running', 'complete']).toContain(started.status);
    return started;
  };

  const getImport = async (user: RegisteredUser, id: string, query = '') => {
    const res = await t.http.get(`${IMPORTS}/${id}${query}`).set(user.auth);
    expect(res.status).toBeLessThan(500);
    return res;
  };

  /** Polls GET /api/imports/:id until the import is complete or failed. */
  const finished = (user: RegisteredUser, id: string) =>
    eventually(
      async () => {
        const res = await getImport(user, id);
        expect(res.status).toBe(200);
        const body = res.body as ImportBody;
        return (body.status === 'complete' || body.status === 'failed') && body;
      },
      { timeoutMs: 30_000, intervalMs: 100, message: `import ${id} finished` },
    );

  const importAndWait = async (user: RegisteredUser, body: Buffer | string, type = JSON_TYPE) =>
    finished(user, (await startImport(user, body, type)).id);

  const roomsOf = async (user: RegisteredUser) => {
    const res = await t.http.get('/api/chat-rooms?limit=100').set(user.auth).expect(200);
    expect(res.body.total).toBeLessThanOrEqual(100);
    return res.body.items as { id: string; title: string; messageCount: number }[];
  };

  const listImports = async (user: RegisteredUser) => {
    const res = await t.http.get(`${IMPORTS}?limit=100`).set(user.auth).expect(200);
    return res.body as { items: ImportBody[]; total: number };
  };

  const exportOf = async (user: RegisteredUser) => {
    const res = await t.http.get('/api/users/me/export').set(user.auth).expect(200);
    return { text: res.text, document: res.body as ExportDocument };
  };

  const chunksOf = async (importId: string) =>
    Number(
      (
        await t.db.query<{ n: string }>(
          'SELECT count(*) AS n FROM import_chunks WHERE import_id = $1',
          [importId],
        )
      ).rows[0].n,
    );

  /** A finished import's bookkeeping: counts that add up, times in order, no chunks left. */
  const expectFinished = async (done: ImportBody, status: 'complete' | 'failed') => {
    expect(done.status).toBe(status);
    expect(done.finishedAt).not.toBeNull();
    expect(Date.parse(done.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(done.createdAt));
    const { total, imported, skipped, failed } = done.conversations;
    expect(imported + skipped + failed).toBe(total);
    expect(done.items).toHaveLength(total);
    expect(done.items.map((item) => item.index)).toEqual(done.items.map((_, i) => i));
    for (const [count, itemStatus] of [
      [imported, 'imported'],
      [skipped, 'skipped'],
      [failed, 'failed'],
    ] as const) {
      expect(done.items.filter((item) => item.status === itemStatus)).toHaveLength(count);
    }
    for (const item of done.items) {
      if (item.status === 'failed') {
        expect(item.chatRoomId).toBeNull();
        expect(item.reason).toEqual(expect.stringMatching(/\S/));
      } else {
        expect(item.chatRoomId).toMatch(UUID);
      }
    }
    if (status === 'failed') expect(done.reason).toEqual(expect.stringMatching(/\S/));
    else expect(done.reason).toBeNull();
    // The stored body is deleted once the import is over.
    expect(await chunksOf(done.id)).toBe(0);
  };

  /** The room as stored matches what the conversation should become (see chatgpt-expected). */
  const expectRoomAsExpected = async (
    user: RegisteredUser,
    roomId: string,
    expected: ExpectedRoom,
  ) => {
    const room = await getRoom(t.http, user, roomId);
    expect(room.title).toBe(expected.title);
    expect(room.createdAt).toBe(expected.createdAt);
    expect(room.model).toBeNull();
    expect(room.systemPrompt).toBeNull();
    const all = await allMessages(t.http, user, roomId);
    const keyOf = new Map(all.map((m) => [m.id, messageKey(m.createdAt, m.role)]));
    const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : 1);
    const got = all
      .map((m) => ({
        key: keyOf.get(m.id)!,
        parentKey: m.parentId === null ? null : (keyOf.get(m.parentId) ?? 'not in the room'),
        role: m.role,
        content: m.content,
        createdAt: m.createdAt,
        model: m.model,
        status: m.status,
      }))
      .sort(byKey);
    const want = expected.messages
      .map((m) => ({
        ...m,
        content: typeof m.content === 'string' ? m.content : expect.stringMatching(m.content),
        status: 'complete',
      }))
      .sort(byKey);
    expect(got).toEqual(want);
    // The active message is current_node's (or its nearest kept ancestor), with its path.
    expect(keyOf.get(room.activeMessageId!)).toBe(expected.activeKey);
    expect(room.messages.map((m) => keyOf.get(m.id))).toEqual(expected.activePath);
    // Never older than its newest message.
    expect(room.updatedAt >= all[all.length - 1].createdAt).toBe(true);
    return { room, all };
  };

  describe('ChatGPT exports', () => {
    const expectations = CHATGPT_FIXTURES.map((name) => ({
      name,
      expected: expectedChatGptRoom(chatGptFixture(name)),
    }));

    const expectAllFixturesImported = async (user: RegisteredUser, done: ImportBody) => {
      await expectFinished(done, 'complete');
      const failures = expectations.filter((e) => e.expected.failed);
      expect(done.conversations).toEqual({
        total: CHATGPT_FIXTURES.length,
        imported: CHATGPT_FIXTURES.length - failures.length,
        skipped: 0,
        failed: failures.length,
      });
      // In file order, named by conversation_id and title.
      expect(
        done.items.map(({ index, sourceId, title, status }) => ({
          index,
          sourceId,
          title,
          status,
        })),
      ).toEqual(
        expectations.map(({ expected }, index) => ({
          index,
          sourceId: expected.sourceId,
          title: expected.title,
          status: expected.failed ? 'failed' : 'imported',
        })),
      );

      // One room per imported conversation, and no other.
      const rooms = await roomsOf(user);
      const roomIds = done.items.filter((i) => i.status === 'imported').map((i) => i.chatRoomId);
      expect(rooms.map((r) => r.id).sort()).toEqual([...roomIds].sort());
      expect(new Set(roomIds).size).toBe(roomIds.length);

      const byName = new Map<ChatGptFixture, Awaited<ReturnType<typeof expectRoomAsExpected>>>();
      for (const [index, { name, expected }] of expectations.entries()) {
        const item = done.items[index];
        if (expected.failed) continue;
        const stored = await expectRoomAsExpected(user, item.chatRoomId!, expected);
        byName.set(name, stored);
        const summary = rooms.find((r) => r.id === item.chatRoomId)!;
        expect(summary.messageCount).toBe(expected.messages.length);
        expect(stored.all).toHaveLength(expected.messages.length);
        // A message cut at 32,000 characters says so on its item.
        if (expected.cut) expect(item.reason).toMatch(/32,?000/);
      }

      // Spot checks, each derived from its fixture.
      const regenerate = chatGptFixture('regenerate');
      const current = regenerate.mapping[regenerate.current_node].message.content.parts[0];
      const regenerated = byName.get('regenerate')!;
      const active = regenerated.room.messages.at(-1)!;
      expect(active.content).toBe(current);
      // The older reply is active, and the newer one is its sibling.
      expect(active.siblingIds).toHaveLength(2);
      expect(active.siblingIds[0]).toBe(active.id);
      const overLong = chatGptFixture('over-long');
      const nodes = Object.values(
        overLong.mapping as Record<string, { message: { content: { parts?: unknown[] } } | null }>,
      );
      const longest = nodes
        .flatMap((node) => node.message?.content.parts ?? [])
        .filter((part): part is string => typeof part === 'string')
        .sort((a, b) => b.length - a.length)[0];
      expect(longest.length).toBeGreaterThan(MAX_IMPORTED_CONTENT);
      for (const message of byName.get('over-long')!.all) {
        expect(message.content.length).toBeLessThanOrEqual(MAX_IMPORTED_CONTENT);
        expect(message.content.isWellFormed()).toBe(true);
      }
      const noMapping = expectations.findIndex((e) => e.name === 'no-mapping');
      expect(done.items[noMapping]).toMatchObject({ status: 'failed', chatRoomId: null });
    };

    it.each([
      ['conversations.json', () => Buffer.from(conversationsJson()), JSON_TYPE, 'chatgpt'],
      ['its ZIP as downloaded', chatGptZip, ZIP_TYPE, 'chatgpt-zip'],
      ['a sharded ZIP', shardedZip, 'application/x-zip-compressed', 'chatgpt-zip'],
    ] as const)(
      '%s: each conversation one room with its whole tree, items in file order',
      async (_, file, type, format) => {
        const user = await registerUser(t.http);
        const started = await startImport(user, file(), type);
        expect(started.format).toBe(format);
        const done = await finished(user, started.id);
        expect(done.id).toBe(started.id);
        expect(done.format).toBe(format);
        expect(done.createdAt).toBe(started.createdAt);
        await expectAllFixturesImported(user, done);
      },
    );

    it('importing the same file twice: the second skips every conversation and creates no room', async () => {
      const user = await registerUser(t.http);
      const first = await importAndWait(user, conversationsJson());
      await expectFinished(first, 'complete');
      const roomsBefore = await roomsOf(user);

      const second = await importAndWait(user, chatGptZip(), ZIP_TYPE);
      await expectFinished(second, 'complete');
      // Same source (conversation_id), same user: skipped, pointing at the room made first;
      // the conversation that failed fails again.
      expect(second.items.map(({ status, chatRoomId }) => ({ status, chatRoomId }))).toEqual(
        first.items.map(({ status, chatRoomId }) => ({
          status: status === 'imported' ? 'skipped' : status,
          chatRoomId,
        })),
      );
      expect(second.conversations).toEqual({
        total: first.conversations.total,
        imported: 0,
        skipped: first.conversations.imported,
        failed: first.conversations.failed,
      });
      const roomsAfter = await roomsOf(user);
      expect(roomsAfter.map((r) => [r.id, r.messageCount]).sort()).toEqual(
        roomsBefore.map((r) => [r.id, r.messageCount]).sort(),
      );

      // Another user importing the same file gets rooms of their own.
      const other = await registerUser(t.http);
      const theirs = await importAndWait(other, conversationsJson());
      expect(theirs.conversations.imported).toBe(first.conversations.imported);
      const theirRooms = theirs.items.flatMap((i) => (i.chatRoomId ? [i.chatRoomId] : []));
      const mine = new Set(roomsBefore.map((r) => r.id));
      expect(theirRooms.filter((id) => mine.has(id))).toEqual([]);

      // The items of one import, in pages.
      const page = await getImport(user, second.id, '?itemsLimit=5&itemsOffset=5');
      expect(page.status).toBe(200);
      expect(page.body.items).toEqual(second.items.slice(5, 10));
      expect(page.body.conversations).toEqual(second.conversations);
      const rest = await getImport(user, second.id, '?itemsLimit=1000&itemsOffset=10');
      expect(rest.body.items).toEqual(second.items.slice(10));
    });
  });

  describe('our own export', () => {
    let alice: RegisteredUser;
    let bob: RegisteredUser;
    let aliceExport: { text: string; document: ExportDocument };

    beforeAll(async () => {
      alice = await registerUser(t.http);
      bob = await registerUser(t.http);
      const trip = (
        await t.http
          .post('/api/chat-rooms')
          .set(alice.auth)
          .send({ title: 'Trip to Lisbon', systemPrompt: 'Be brief.\nReally.' })
          .expect(201)
      ).body.id as string;
      const post = (body: { content: string; role?: string; parentId?: string | null }) =>
        postInTree(t.http, alice, trip, body);
      const first = await post({ content: 'What should I see in Lisbon?' });
      await post({ content: 'Belém and Alfama.', role: 'assistant' });
      // An edit of the first question (a second root), with its reply.
      await post({ content: 'What should I see in Porto?', parentId: null });
      const portoReply = await post({ content: 'The Ribeira.', role: 'assistant' });
      // A regenerated reply beside the first one, and a question below it.
      await post({ content: 'Sintra, too.', role: 'assistant', parentId: first.id });
      await post({ content: 'And to eat?' });
      // The branch shown is not the newest message's.
      await switchBranch(t.http, alice, trip, portoReply.id);

      const seoul = await createRoom(t.http, alice, '서울 😀 "quotes" \\');
      await postInTree(t.http, alice, seoul.id, { content: 'You are a guide.', role: 'system' });
      await postInTree(t.http, alice, seoul.id, {
        content: '서울에서 빵집?\n\t두 줄 🥐 </script>',
      });
      await postInTree(t.http, alice, seoul.id, {
        content: '성수동에 가 보세요. \u0001',
        role: 'assistant',
      });
      await createRoom(t.http, alice, 'An empty room');
      await seedRooms(t.db, alice.id, 3, 5);
      aliceExport = await exportOf(alice);
      expect(aliceExport.document.rooms).toHaveLength(6);
    });

    it("another user's import of it holds the same trees: titles, messages, parents, the active branch", async () => {
      const started = await startImport(bob, aliceExport.text);
      expect(started.format).toBe('chat-backend.export');
      const done = await finished(bob, started.id);
      await expectFinished(done, 'complete');
      const rooms = aliceExport.document.rooms;
      expect(done.conversations).toEqual({
        total: rooms.length,
        imported: rooms.length,
        skipped: 0,
        failed: 0,
      });
      expect(
        done.items.map(({ sourceId, title, status }) => ({ sourceId, title, status })),
      ).toEqual(rooms.map((r) => ({ sourceId: r.id, title: r.title, status: 'imported' })));

      const bobExport = (await exportOf(bob)).document;
      expect(byTitle(bobExport.rooms).map(exportShape)).toEqual(byTitle(rooms).map(exportShape));
      // New rooms and messages: nothing of Alice's is shared.
      const aliceIds = new Set(rooms.flatMap((r) => [r.id, ...r.messages.map((m) => m.id)]));
      const bobIds = bobExport.rooms.flatMap((r) => [r.id, ...r.messages.map((m) => m.id)]);
      expect(bobIds.filter((id) => aliceIds.has(id))).toEqual([]);
      expect(bobExport.rooms.map((r) => r.id).sort()).toEqual(
        done.items.map((i) => i.chatRoomId).sort(),
      );

      // Through the room routes: the same active path, and every room whole.
      for (const [index, source] of rooms.entries()) {
        const roomId = done.items[index].chatRoomId!;
        const mine = await getRoom(t.http, bob, roomId);
        const theirs = await getRoom(t.http, alice, source.id);
        expect(mine.messages.map((m) => [m.role, m.content])).toEqual(
          theirs.messages.map((m) => [m.role, m.content]),
        );
        expect(mine.systemPrompt).toBe(theirs.systemPrompt);
      }
      const bobRooms = await roomsOf(bob);
      for (const room of bobRooms) {
        expect(room.messageCount).toBe((await allMessages(t.http, bob, room.id)).length);
      }

      // Alice's rooms are untouched.
      expect((await exportOf(alice)).document.rooms).toEqual(rooms);
    });

    it('a second import of the same file by the same user skips every room', async () => {
      const first = (await listImports(bob)).items.find((i) => i.format === 'chat-backend.export');
      expect(first).toBeDefined();
      const firstItems = (await finished(bob, first!.id)).items;
      const roomsBefore = await roomsOf(bob);
      const again = await importAndWait(bob, aliceExport.text);
      await expectFinished(again, 'complete');
      expect(again.items.map(({ status, chatRoomId }) => ({ status, chatRoomId }))).toEqual(
        firstItems.map(({ chatRoomId }) => ({ status: 'skipped', chatRoomId })),
      );
      expect((await roomsOf(bob)).map((r) => r.id).sort()).toEqual(
        roomsBefore.map((r) => r.id).sort(),
      );
    });

    it('importing it back into the account it came from skips every room: they are its own', async () => {
      const done = await importAndWait(alice, aliceExport.text);
      await expectFinished(done, 'complete');
      const rooms = aliceExport.document.rooms;
      expect(done.conversations).toEqual({
        total: rooms.length,
        imported: 0,
        skipped: rooms.length,
        failed: 0,
      });
      expect(done.items.map((i) => i.chatRoomId)).toEqual(rooms.map((r) => r.id));
      expect((await roomsOf(alice)).map((r) => r.id).sort()).toEqual(rooms.map((r) => r.id).sort());
      expect((await exportOf(alice)).document.rooms).toEqual(rooms);
    });
  });

  describe('files that are not ours to read', () => {
    let user: RegisteredUser;
    beforeAll(async () => {
      user = await registerUser(t.http);
    });

    it('400 for an empty body, random bytes, and JSON of another shape; nothing is stored', async () => {
      // Random, but never starting like a format we read ("[", "{", "PK").
      const noise = Buffer.concat([Buffer.from([0x00, 0xff]), randomBytes(4096)]);
      const refused: [Buffer | string, string][] = [
        ['', JSON_TYPE],
        ['', ZIP_TYPE],
        [noise, JSON_TYPE],
        [noise, ZIP_TYPE],
        ['{"foo":1}', JSON_TYPE],
        ['{"format":"someone-else.export","rooms":[]}', JSON_TYPE],
        ['"conversations"', JSON_TYPE],
        // A ZIP of a ChatGPT export without its conversations.
        [zipBytes(EXPORT_COMPANIONS), ZIP_TYPE],
      ];
      for (const [body, type] of refused) {
        const res = await postImport(user, body, type);
        expectErrorBody(res, 400);
        expect(res.headers.location).toBeUndefined();
      }
      expect((await listImports(user)).total).toBe(0);
      expect(await roomsOf(user)).toEqual([]);
    });

    it('415 for any other content type, even with a readable body', async () => {
      for (const type of ['text/plain', 'application/octet-stream', 'multipart/form-data']) {
        const res = await postImport(user, conversationsJson(['plain']), type);
        expectErrorBody(res, 415);
      }
      expect((await listImports(user)).total).toBe(0);
    });

    it('a JSON file cut short: the conversations before the cut are imported whole, then the import fails', async () => {
      const text = conversationsJson();
      // Cut inside the fourth conversation: three come before it, whole.
      const fourth = chatGptFixtureText(CHATGPT_FIXTURES[3]).trim();
      const at = text.indexOf(fourth) + Math.floor(fourth.length / 2);
      const before = CHATGPT_FIXTURES.slice(0, 3);
      const owner = await registerUser(t.http);
      const done = await importAndWait(owner, text.slice(0, at));
      await expectFinished(done, 'failed');
      expect(done.conversations).toEqual({ total: 3, imported: 3, skipped: 0, failed: 0 });
      const rooms = await roomsOf(owner);
      expect(rooms).toHaveLength(before.length);
      for (const [index, name] of before.entries()) {
        const expected = expectedChatGptRoom(chatGptFixture(name)) as ExpectedRoom;
        const item = done.items[index];
        expect(item.sourceId).toBe(expected.sourceId);
        await expectRoomAsExpected(owner, item.chatRoomId!, expected);
      }
      // Nothing half-written: every room there is holds all its messages.
      for (const room of rooms) {
        const all = await allMessages(t.http, owner, room.id);
        expect(all.length).toBeGreaterThan(0);
        expect(room.messageCount).toBe(all.length);
      }
      const fourthId = (expectedChatGptRoom(chatGptFixture(CHATGPT_FIXTURES[3])) as ExpectedRoom)
        .sourceId;
      expect(done.items.map((i) => i.sourceId)).not.toContain(fourthId);
    });

    const hostileZips: [string, () => Buffer][] = [
      [
        'a ZIP bomb (24 MiB of spaces in 24 KiB)',
        () => {
          const bomb = Buffer.alloc(24 * 1024 * 1024, 0x20);
          bomb[0] = 0x5b; // '['
          bomb[bomb.length - 1] = 0x5d; // ']'
          return zipBytes([{ name: 'conversations.json', data: bomb }]);
        },
      ],
      [
        'a ZIP entry that inflates past the size it declares',
        () =>
          zipBytes([{ name: 'conversations.json', data: conversationsJson(), declaredSize: 1000 }]),
      ],
      [
        'a damaged ZIP',
        () => {
          const zip = chatGptZip();
          // Its central directory overwritten: the local header still says "PK\3\4".
          return Buffer.concat([zip.subarray(0, 64), Buffer.alloc(zip.length - 64, 0x41)]);
        },
      ],
    ];
    it.each(hostileZips)(
      '%s: refused (400) or failed with a reason, and no room',
      async (_, zip) => {
        const owner = await registerUser(t.http);
        const res = await postImport(owner, zip(), ZIP_TYPE);
        if (res.status === 400) {
          expectErrorBody(res, 400);
          expect((await listImports(owner)).total).toBe(0);
        } else {
          expect(res.status).toBe(202);
          const done = await finished(owner, (res.body as ImportBody).id);
          await expectFinished(done, 'failed');
          expect(done.conversations.imported).toBe(0);
        }
        expect(await roomsOf(owner)).toEqual([]);
      },
    );
  });

  describe('one import at a time', () => {
    it('429 while an import of the same user is queued or running; accepted again once it is over', async () => {
      const user = await registerUser(t.http);
      const other = await registerUser(t.http);
      // Rooms cannot be written while this lock is held: the first import stays unfinished.
      const locker = new Client({ connectionString: t.databaseUrl });
      await locker.connect();
      let firstId: string;
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE chat_rooms IN EXCLUSIVE MODE');
        const first = await within(
          startImport(user, conversationsJson()),
          10_000,
          'the first POST, while rooms were locked',
        );
        firstId = first.id;
        const second = await within(
          postImport(user, conversationsJson(['plain'])),
          10_000,
          'the second POST',
        );
        expectErrorBody(second, 429);
        // When to ask again, as the other 429s of the API say it.
        expect(second.headers['retry-after']).toBe('10');
        const zip = await postImport(user, chatGptZip(), ZIP_TYPE);
        expectErrorBody(zip, 429);
        const running = await getImport(user, firstId);
        expect(['queued', 'running']).toContain(running.body.status);
        // Another user is not held up by it.
        const theirs = await within(
          postImport(other, conversationsJson(['plain'])),
          10_000,
          "another user's POST",
        );
        expect(theirs.status).toBe(202);
      } finally {
        await locker.query('ROLLBACK');
        await locker.end();
      }
      const done = await finished(user, firstId);
      await expectFinished(done, 'complete');
      expect(done.conversations.imported).toBe(CHATGPT_FIXTURES.length - 1);
      // The refused POSTs stored nothing.
      const listed = await listImports(user);
      expect(listed.items.map((i) => i.id)).toEqual([firstId]);
      // Over: the next one is accepted (and skips what the first imported).
      const next = await importAndWait(user, conversationsJson(['plain']));
      expect(next.conversations).toEqual({ total: 1, imported: 0, skipped: 1, failed: 0 });
    });
  });

  describe('reading imports', () => {
    let alice: RegisteredUser;
    let bob: RegisteredUser;
    const ids: string[] = [];

    beforeAll(async () => {
      alice = await registerUser(t.http);
      bob = await registerUser(t.http);
      for (const name of ['plain', 'korean-emoji', 'regenerate'] as const) {
        ids.push((await importAndWait(alice, conversationsJson([name]))).id);
      }
    });

    it('lists the caller’s imports newest first, in pages, without their items', async () => {
      const page = await t.http.get(`${IMPORTS}?limit=2&offset=0`).set(alice.auth).expect(200);
      expect(page.body).toMatchObject({ total: 3, limit: 2, offset: 0 });
      expect(page.body.items.map((i: ImportBody) => i.id)).toEqual([ids[2], ids[1]]);
      const last = await t.http.get(`${IMPORTS}?limit=2&offset=2`).set(alice.auth).expect(200);
      expect(last.body).toMatchObject({ total: 3, limit: 2, offset: 2 });
      expect(last.body.items.map((i: ImportBody) => i.id)).toEqual([ids[0]]);
      const defaults = await t.http.get(IMPORTS).set(alice.auth).expect(200);
      expect(defaults.body).toMatchObject({ total: 3, limit: 20, offset: 0 });
      for (const listed of defaults.body.items as ImportBody[]) {
        expect(listed.items).toEqual([]);
        const one = (await getImport(alice, listed.id)).body as ImportBody;
        expect({ ...listed, items: one.items }).toEqual(one);
        expect(one.items).toHaveLength(1);
      }
      // Only the caller's.
      expect((await listImports(bob)).total).toBe(0);
    });

    it('400 for a limit or offset out of bounds, and for an id that is not a UUID', async () => {
      for (const query of ['limit=0', 'limit=101', 'offset=-1', 'limit=abc', 'offset=1.5']) {
        const res = await t.http.get(`${IMPORTS}?${query}`).set(alice.auth);
        expectErrorBody(res, 400);
      }
      expectErrorBody(await getImport(alice, 'not-a-uuid'), 400);
    });

    it('404 for another user’s import and for one that does not exist', async () => {
      expectErrorBody(await getImport(bob, ids[0]), 404);
      expectErrorBody(await getImport(alice, MISSING), 404);
    });

    it.each([
      ['GET /api/imports', () => t.http.get(IMPORTS)],
      ['GET /api/imports/:importId', () => t.http.get(`${IMPORTS}/${ids[0]}`)],
      ['POST /api/imports', () => postImport(null, conversationsJson(['plain']))],
    ])('401 without a token: %s', async (_, request) => {
      expectErrorBody(await request(), 401);
      expect((await listImports(alice)).total).toBe(3);
    });
  });
});

describe('imports over IMPORT_MAX_BYTES (e2e)', () => {
  const MAX = 10_000;
  let t: TestApp;
  let base: string;

  beforeAll(async () => {
    t = await startTestApp({ IMPORT_POLL_MS: '200', IMPORT_MAX_BYTES: String(MAX) });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  const post = (user: RegisteredUser, body: Buffer) =>
    t.http
      .post(IMPORTS)
      .set(user.auth)
      .set('Content-Type', JSON_TYPE)
      .serialize((data: unknown) => data as string)
      .send(body);
  const rows = async (sql: string, params: unknown[] = []) =>
    Number((await t.db.query<{ n: string }>(sql, params)).rows[0].n);

  it('413 for a body of one byte over, with or without Content-Length; nothing stored; the limit itself accepted', async () => {
    const user = await registerUser(t.http);
    const plain = conversationsJson(['plain']);
    expect(Buffer.byteLength(plain)).toBeLessThan(MAX);
    // Valid JSON either way: white space after the list.
    const atLimit = Buffer.from(plain.padEnd(MAX, ' '));
    const over = Buffer.from(plain.padEnd(MAX + 1, ' '));
    expect(atLimit.length).toBe(MAX);

    expectErrorBody(await post(user, over), 413);
    expectErrorBody(await post(user, Buffer.from(conversationsJson())), 413);
    // Streamed in pieces: refused as it passes the limit.
    const chunked = await chunkedUpload(
      base,
      user.token,
      JSON_TYPE,
      Array.from({ length: Math.ceil(over.length / 2000) }, (_, i) =>
        over.subarray(i * 2000, (i + 1) * 2000),
      ),
    );
    expect(chunked.status).toBe(413);

    const listed = await t.http.get(IMPORTS).set(user.auth).expect(200);
    expect(listed.body.total).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM imports WHERE owner_id = $1', [user.id])).toBe(0);
    expect(await rows('SELECT count(*) AS n FROM import_chunks')).toBe(0);

    const accepted = await post(user, atLimit);
    expect(accepted.status).toBe(202);
    const done = await eventually(
      async () => {
        const res = await t.http
          .get(`${IMPORTS}/${accepted.body.id as string}`)
          .set(user.auth)
          .expect(200);
        return ['complete', 'failed'].includes(res.body.status as string) && res;
      },
      { timeoutMs: 30_000, message: 'the import at the limit finished' },
    );
    expect(done.body.status).toBe('complete');
    expect(done.body.conversations).toEqual({ total: 1, imported: 1, skipped: 0, failed: 0 });
  });
});
