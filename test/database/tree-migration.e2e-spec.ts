import { randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import type { TreeMessage, TreeRoom } from '../factories/chat';
import { migrations } from '../../src/database/migrations';
import { buildTypeOrmOptions } from '../../src/database/typeorm-options';
import { startTestApp, TestApp } from '../helpers/app';
import { adminQuery, adminUrl, withDatabase } from '../helpers/database';

async function migrate(url: string, upTo: number): Promise<void> {
  const dataSource = new DataSource({
    ...buildTypeOrmOptions({ url, connectTimeoutMs: 5000, statementTimeoutMs: 30_000 }),
    migrations: migrations.slice(0, upTo),
    migrationsRun: false,
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.destroy();
}

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();

/** v2 rows: rooms' messages, inserted out of order (ids, insertion and time all disagree). */
const ROOMS = {
  a: { id: id(101), title: 'Line A', owner: 'alice' },
  b: { id: id(102), title: 'Line B', owner: 'alice' },
  empty: { id: id(103), title: 'Empty', owner: 'alice' },
  c: { id: id(104), title: 'Bob’s', owner: 'bob' },
} as const;
interface Row {
  id: string;
  room: keyof typeof ROOMS;
  role: string;
  content: string;
  createdAt: string;
  status?: string;
  model?: string;
}
const MESSAGES: Row[] = [
  { id: id(9), room: 'a', role: 'user', content: 'a3', createdAt: at(30) },
  { id: id(3), room: 'a', role: 'user', content: 'a1', createdAt: at(10) },
  {
    id: id(1),
    room: 'a',
    role: 'assistant',
    content: 'a4',
    createdAt: at(40),
    model: 'fake-model',
  },
  {
    id: id(7),
    room: 'a',
    role: 'assistant',
    content: 'a2',
    createdAt: at(20),
    model: 'fake-model',
  },
  {
    id: id(2),
    room: 'a',
    role: 'assistant',
    content: 'a5 (stopped)',
    createdAt: at(50),
    status: 'stopped',
    model: 'fake-model',
  },
  // Room B: two messages share a timestamp; the id decides (id(4) before id(8)).
  { id: id(8), room: 'b', role: 'assistant', content: 'b2', createdAt: at(15) },
  { id: id(6), room: 'b', role: 'system', content: 'b3', createdAt: at(25) },
  { id: id(4), room: 'b', role: 'user', content: 'b1', createdAt: at(15) },
  { id: id(5), room: 'b', role: 'user', content: 'b0', createdAt: at(5) },
  { id: id(10), room: 'c', role: 'user', content: 'c1', createdAt: at(12) },
];
/** Each room's messages in conversation order (createdAt, id). */
const LINES: Record<keyof typeof ROOMS, string[]> = {
  a: [id(3), id(7), id(9), id(1), id(2)],
  b: [id(5), id(4), id(8), id(6)],
  empty: [],
  c: [id(10)],
};

describe('migration ConversationTrees on a v2 database (e2e)', () => {
  jest.setTimeout(120_000);

  it('makes each room one line in (created_at, id) order, the newest message active, version 1', async () => {
    const names = migrations.map((m) => m.name);
    const upTo = names.indexOf('LiveSession1796500000000') + 1;
    expect(upTo).toBeGreaterThan(0);
    expect(names.indexOf('ConversationTrees1796600000000')).toBeGreaterThanOrEqual(upTo);

    const name = `chat_e2e_tree_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = withDatabase(adminUrl(), name);
    const db = new Client({ connectionString: url });
    let t: TestApp | undefined;
    try {
      await migrate(url, upTo);
      await db.connect();
      const password = 'migrated password';
      const hash = await argon2.hash(password, { type: argon2.argon2id });
      const { rows: users } = await db.query<{ id: string; email: string }>(
        `INSERT INTO users (email, password_hash) VALUES ('alice@migrated.io', $1), ('bob@migrated.io', $1)
         RETURNING id, email`,
        [hash],
      );
      const ownerId = (owner: string) => users.find((u) => u.email.startsWith(owner))!.id;
      for (const [key, room] of Object.entries(ROOMS)) {
        const line = LINES[key as keyof typeof ROOMS];
        const newest = MESSAGES.filter((m) => m.room === key)
          .map((m) => m.createdAt)
          .sort()
          .at(-1);
        await db.query(
          `INSERT INTO chat_rooms (id, title, owner_id, message_count, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6)`,
          [room.id, room.title, ownerId(room.owner), line.length, at(0), newest ?? at(0)],
        );
      }
      for (const m of MESSAGES) {
        await db.query(
          `INSERT INTO messages (id, chat_room_id, role, content, created_at, status, model)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [
            m.id,
            ROOMS[m.room].id,
            m.role,
            m.content,
            m.createdAt,
            m.status ?? 'complete',
            m.model ?? null,
          ],
        );
      }

      await migrate(url, migrations.length);

      // In SQL: one line per room, the newest message active, version 1.
      for (const [key, room] of Object.entries(ROOMS)) {
        const line = LINES[key as keyof typeof ROOMS];
        const { rows } = await db.query<{ id: string; parent_id: string | null }>(
          `SELECT id, parent_id FROM messages WHERE chat_room_id = $1 ORDER BY created_at, id`,
          [room.id],
        );
        expect(rows).toEqual(line.map((m, i) => ({ id: m, parent_id: i ? line[i - 1] : null })));
        const { rows: rooms } = await db.query<{ version: number; active: string | null }>(
          `SELECT version, active_message_id AS active FROM chat_rooms WHERE id = $1`,
          [room.id],
        );
        expect(rooms).toEqual([{ version: 1, active: line.at(-1) ?? null }]);
      }
      const { rows: offPath } = await db.query(
        'SELECT id FROM messages WHERE on_active_path IS NOT TRUE',
      );
      expect(offPath).toEqual([]);

      // Through the API.
      t = await startTestApp({}, { databaseUrl: url });
      const login = await t.http
        .post('/api/auth/login')
        .send({ email: 'alice@migrated.io', password })
        .expect(200);
      const auth = { Authorization: `Bearer ${login.body.accessToken as string}` };
      for (const key of ['a', 'b', 'empty'] as const) {
        const line = LINES[key];
        const res = await t.http.get(`/api/chat-rooms/${ROOMS[key].id}`).set(auth).expect(200);
        expect(res.headers.etag).toBe('"1"');
        const room = res.body as TreeRoom;
        expect(room).toMatchObject({ version: 1, activeMessageId: line.at(-1) ?? null });
        expect(room.messages.map((m) => m.id)).toEqual(line);
        room.messages.forEach((m, i) => {
          const row = MESSAGES.find((r) => r.id === m.id)!;
          expect(m).toEqual({
            id: row.id,
            chatRoomId: ROOMS[key].id,
            role: row.role,
            content: row.content,
            createdAt: row.createdAt,
            status: row.status ?? 'complete',
            model: row.model ?? null,
            generationId: null,
            parentId: i ? line[i - 1] : null,
            siblingIds: [m.id],
          });
        });
        const all = await t.http
          .get(`/api/chat-rooms/${ROOMS[key].id}/messages?branch=all`)
          .set(auth)
          .expect(200);
        expect(all.body).toEqual({ items: room.messages, hasMore: false });
      }
      const list = await t.http.get('/api/chat-rooms').set(auth).expect(200);
      expect(list.body.total).toBe(3);
      for (const key of ['a', 'b', 'empty'] as const) {
        const summary = (list.body.items as Record<string, unknown>[]).find(
          (r) => r.id === ROOMS[key].id,
        );
        expect(summary).toMatchObject({
          version: 1,
          activeMessageId: LINES[key].at(-1) ?? null,
          messageCount: LINES[key].length,
        });
        expect((summary!.lastMessage as TreeMessage | null)?.id ?? null).toBe(
          LINES[key].at(-1) ?? null,
        );
      }

      // The migrated rooms take v3 writes: a post follows the newest message, a root in the empty room.
      const next = await t.http
        .post(`/api/chat-rooms/${ROOMS.a.id}/messages`)
        .set(auth)
        .send({ content: 'after the migration' })
        .expect(201);
      expect(next.body.parentId).toBe(LINES.a.at(-1));
      const first = await t.http
        .post(`/api/chat-rooms/${ROOMS.empty.id}/messages`)
        .set(auth)
        .send({ content: 'first' })
        .expect(201);
      expect(first.body).toMatchObject({ parentId: null, siblingIds: [first.body.id] });
      // Switching to the first message of a line goes down to its only leaf.
      const switched = await t.http
        .put(`/api/chat-rooms/${ROOMS.b.id}/active-message`)
        .set(auth)
        .send({ messageId: LINES.b[0] })
        .expect(200);
      expect(switched.body).toMatchObject({ version: 2, activeMessageId: LINES.b.at(-1) });
      const after = await t.http.get(`/api/chat-rooms/${ROOMS.a.id}`).set(auth).expect(200);
      expect(after.body.version).toBe(2);
    } finally {
      await t?.close();
      await db.end().catch(() => undefined);
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
