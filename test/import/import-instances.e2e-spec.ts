import { Client } from 'pg';
import { uniqueEmail } from '../factories/users';
import { TEST_JWT_SECRET } from '../helpers/app';
import { generateChatGptConversations, type GeneratedFile } from '../helpers/chatgpt-generator';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/net';
import {
  type AppProcess,
  destroyAgent,
  fetch,
  startAppProcess,
  waitForHealth,
} from '../helpers/server-process';

import type { ImportItemDto, ImportResponseDto } from '../../src/import/dto/import-response.dto';

jest.setTimeout(150_000);

type ImportItem = ImportItemDto;
type Import = ImportResponseDto;
interface User {
  id: string;
  token: string;
}

// Items are read in pages of this size (the route's default page).
const ITEMS_PAGE = 1000;
/** chat_rooms.import_source names a ChatGPT conversation as `chatgpt:<conversation_id>`. */
const conversationOf = (source: string | null) => source?.replace(/^chatgpt:/, '') ?? null;

/**
 * Imports run in the background on real processes of the service (src/main.ts) that share one
 * database: an import survives kill -9 of the instance running it (the restarted one, or
 * another, resumes it), and two instances never run one import twice.
 */
describe('imports across instances and kill -9 (e2e)', () => {
  let database: { url: string; drop(): Promise<void> };
  let db: Client;
  let env: Record<string, string>;
  const apps: AppProcess[] = [];

  const launch = async (port?: number) => {
    const app = startAppProcess(port ?? (await freePort()), env);
    apps.push(app);
    await waitForHealth(app.base, app);
    return app;
  };
  const kill9 = async (app: AppProcess) => {
    app.process.kill('SIGKILL');
    await app.exited;
  };
  const alive = (app: AppProcess) =>
    app.process.exitCode === null && app.process.signalCode === null;

  const signUp = async (app: AppProcess): Promise<User> => {
    const res = await fetch(`${app.base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: uniqueEmail('import-instances'), password: 'instances-pw-1' }),
    });
    expect(res.status).toBe(201);
    const body = res.json<{ accessToken: string; user: { id: string } }>();
    return { id: body.user.id, token: body.accessToken };
  };

  /** POST /api/imports with the file; 202 with a Location naming the import. */
  const postImport = async (app: AppProcess, user: User, json: string): Promise<Import> => {
    const res = await fetch(`${app.base}/api/imports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: json,
    });
    if (res.status !== 202) throw new Error(`POST /api/imports: ${res.status} ${res.text}`);
    const body = res.json<Import>();
    expect(res.headers.location).toBe(`/api/imports/${body.id}`);
    expect(['queued', 'running', 'complete']).toContain(body.status);
    expect(body.format).toBe('chatgpt');
    return body;
  };

  const getImport = async (
    app: AppProcess,
    user: User,
    id: string,
    itemsOffset = 0,
  ): Promise<Import> => {
    const res = await fetch(
      `${app.base}/api/imports/${id}?itemsLimit=${ITEMS_PAGE}&itemsOffset=${itemsOffset}`,
      { headers: { authorization: `Bearer ${user.token}` } },
    );
    if (res.status !== 200) throw new Error(`GET /api/imports/${id}: ${res.status} ${res.text}`);
    return res.json<Import>();
  };

  /** Every item of the import, page after page. */
  const allItems = async (app: AppProcess, user: User, id: string): Promise<ImportItem[]> => {
    const items: ImportItem[] = [];
    for (;;) {
      const page = (await getImport(app, user, id, items.length)).items;
      items.push(...page);
      if (page.length < ITEMS_PAGE) return items;
    }
  };

  /** The import once finished, asked of `app`; a failed import fails the test at once. */
  const finished = (app: AppProcess, user: User, id: string, timeoutMs: number) =>
    eventually(
      async () => {
        const state = await getImport(app, user, id);
        if (state.status === 'failed') throw new Error(`import failed: ${JSON.stringify(state)}`);
        return state.status === 'complete' && state;
      },
      { timeoutMs, intervalMs: 200, message: `import ${id} complete` },
    );

  const importRow = async (id: string) =>
    (await db.query<{ status: string }>('SELECT status FROM imports WHERE id = $1', [id])).rows[0];
  const chunkCount = async (id: string) =>
    (
      await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM import_chunks WHERE import_id = $1',
        [id],
      )
    ).rows[0].n;
  /** (owner, source) pairs held by more than one room, anywhere in the database. */
  const duplicateSources = async () =>
    (
      await db.query(
        `SELECT owner_id, import_source, count(*)::int AS n FROM chat_rooms
         WHERE import_source IS NOT NULL GROUP BY 1, 2 HAVING count(*) > 1`,
      )
    ).rows;
  /** The user's rooms by import source (room id). */
  const roomsOf = async (user: User) =>
    new Map(
      (
        await db.query<{ source: string; id: string }>(
          'SELECT import_source AS source, id FROM chat_rooms WHERE owner_id = $1',
          [user.id],
        )
      ).rows.map((r) => [conversationOf(r.source), r.id]),
    );

  /**
   * Every room of the user holds its conversation whole: the kept messages (each under the
   * right parent), nothing else, message_count to match, the current node active. Returns
   * what is wrong, one line per room, so that a failure names the rooms.
   */
  async function roomProblems(user: User, file: GeneratedFile): Promise<string[]> {
    const rooms = await db.query<{
      id: string;
      source: string | null;
      message_count: number;
    }>('SELECT id, import_source AS source, message_count FROM chat_rooms WHERE owner_id = $1', [
      user.id,
    ]);
    const messages = await db.query<{
      room: string;
      content: string;
      parent: string | null;
      active: boolean;
    }>(
      `SELECT m.chat_room_id AS room, m.content, p.content AS parent,
              (r.active_message_id = m.id) AS active
       FROM messages m
       JOIN chat_rooms r ON r.id = m.chat_room_id
       LEFT JOIN messages p ON p.id = m.parent_id
       WHERE r.owner_id = $1`,
      [user.id],
    );
    const byRoom = new Map<string, typeof messages.rows>();
    for (const m of messages.rows) {
      const list = byRoom.get(m.room) ?? [];
      list.push(m);
      byRoom.set(m.room, list);
    }
    const expected = new Map(file.conversations.map((c) => [c.id, c]));
    const problems: string[] = [];
    for (const room of rooms.rows) {
      const source = conversationOf(room.source);
      const conversation = source === null ? undefined : expected.get(source);
      if (conversation === undefined) {
        problems.push(`${room.id}: a room from no conversation of the file (${room.source})`);
        continue;
      }
      const held = byRoom.get(room.id) ?? [];
      const pairs = (list: { content: string; parent: string | null }[]) =>
        list.map((m) => `${m.content} <- ${m.parent}`).sort();
      const want = pairs(
        conversation.messages.map((m) => ({ content: m.content, parent: m.parentContent })),
      );
      if (held.length !== want.length || room.message_count !== want.length) {
        problems.push(
          `${room.source}: ${held.length} messages, message_count ${room.message_count}, expected ${want.length}`,
        );
      } else if (JSON.stringify(pairs(held)) !== JSON.stringify(want)) {
        problems.push(`${room.source}: messages or parents differ from the conversation`);
      }
      const active = held.filter((m) => m.active).map((m) => m.content);
      if (active.length !== 1 || active[0] !== conversation.activeContent) {
        problems.push(`${room.source}: active message ${JSON.stringify(active)}`);
      }
    }
    return problems;
  }

  /** The finished import reports every conversation imported, in file order, one room each. */
  async function expectAllImported(app: AppProcess, user: User, done: Import, file: GeneratedFile) {
    const count = file.conversations.length;
    expect(done).toMatchObject({
      status: 'complete',
      reason: null,
      conversations: { total: count, imported: count, skipped: 0, failed: 0 },
    });
    expect(done.finishedAt).not.toBeNull();
    const items = await allItems(app, user, done.id);
    expect(items.map((i) => i.sourceId)).toEqual(file.conversations.map((c) => c.id));
    expect(items.map((i) => i.index)).toEqual(file.conversations.map((_, i) => i));
    expect(items.filter((i) => i.status !== 'imported')).toEqual([]);
    const rooms = await roomsOf(user);
    expect(rooms.size).toBe(count);
    // Each item names the one room of its conversation.
    expect(items.map((i) => i.chatRoomId)).toEqual(items.map((i) => rooms.get(i.sourceId)));
    expect(await roomProblems(user, file)).toEqual([]);
    expect(await chunkCount(done.id)).toBe(0);
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    env = {
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      AUTH_RATE_LIMIT: '1000',
      IMPORT_POLL_MS: '200',
    };
  });
  afterAll(async () => {
    for (const app of apps) app.process.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    destroyAgent();
    await db?.end();
    await database?.drop();
  });

  it('kill -9 mid-import, then a restart: it resumes and finishes, every conversation once and whole', async () => {
    // Large enough to take seconds: the kill must land while it runs.
    const file = generateChatGptConversations(1500, { seed: 1 });
    const count = file.conversations.length;
    const port = await freePort();
    const first = await launch(port);
    const user = await signUp(first);

    const accepted = await postImport(first, user, file.json);
    const running = await eventually(
      async () => {
        const state = await getImport(first, user, accepted.id);
        if (state.status === 'complete' || state.status === 'failed') {
          throw new Error(`the import ended before the kill: ${JSON.stringify(state)}`);
        }
        return state.status === 'running' && state.conversations.imported > 0 && state;
      },
      { timeoutMs: 60_000, intervalMs: 50, message: 'the import running, with rooms' },
    );
    expect(running.conversations.failed).toBe(0);
    await kill9(first);

    // Left mid-way: still running, its body kept, every room it committed whole.
    const atKill = await roomsOf(user);
    expect(atKill.size).toBeGreaterThanOrEqual(running.conversations.imported);
    expect(atKill.size).toBeLessThan(count);
    expect(await importRow(accepted.id)).toEqual({ status: 'running' });
    expect(await chunkCount(accepted.id)).toBeGreaterThan(0);
    expect(await roomProblems(user, file)).toEqual([]);

    const again = await launch(port);
    const done = await finished(again, user, accepted.id, 120_000);
    await expectAllImported(again, user, done, file);
    // The rooms committed before the kill are the ones the report names: none made twice.
    const after = await roomsOf(user);
    for (const [source, roomId] of atKill) expect(after.get(source)).toBe(roomId);
    expect(await duplicateSources()).toEqual([]);
  });

  it('two instances on one database never run one import twice', async () => {
    const [a, b] = [apps.find(alive) ?? (await launch()), await launch()];
    const file = generateChatGptConversations(100, { seed: 2 });
    const users = await Promise.all(Array.from({ length: 6 }, (_, i) => signUp(i % 2 ? a : b)));
    // imports.runner_key is the lease of the instance running it (cleared when it finishes):
    // sampled all along, an import never changes hands while both instances live.
    const runners = new Map<string, Set<number>>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await db.query<{ id: string; runner_key: number }>(
          `SELECT id, runner_key FROM imports WHERE status = 'running' AND runner_key IS NOT NULL`,
        );
        for (const row of rows)
          runners.set(row.id, (runners.get(row.id) ?? new Set()).add(row.runner_key));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    let posted: Import[];
    let done: Import[];
    try {
      // All at once, half to each instance: both instances poll while every one is queued.
      // Every user sends the same file: a conversation id is one room per user, not overall.
      posted = await Promise.all(
        users.map((user, i) => postImport(i % 2 ? a : b, user, file.json)),
      );
      done = await Promise.all(
        posted.map((accepted, i) => finished(i % 2 ? b : a, users[i], accepted.id, 90_000)),
      );
    } finally {
      sampling = false;
      await sampler;
    }
    expect(runners.size).toBeGreaterThan(0);
    for (const [id, keys] of runners)
      expect({ id, runners: keys.size }).toEqual({ id, runners: 1 });
    for (const [i, user] of users.entries()) {
      await expectAllImported(a, user, done[i], file);
      // Each user sees one import, from either instance.
      const list = await fetch(`${b.base}/api/imports`, {
        headers: { authorization: `Bearer ${user.token}` },
      });
      expect(list.status).toBe(200);
      expect(list.json<{ total: number; items: Import[] }>()).toMatchObject({
        total: 1,
        items: [{ id: posted[i].id, status: 'complete' }],
      });
    }
    expect(await duplicateSources()).toEqual([]);
  });

  it('an import accepted by an instance killed at once is run by another one', async () => {
    const running = apps.filter(alive);
    const [a, b] = [running[0] ?? (await launch()), running[1] ?? (await launch())];
    const file = generateChatGptConversations(300, { seed: 3 });
    const user = await signUp(a);

    const accepted = await postImport(a, user, file.json);
    await kill9(a);
    expect(['queued', 'running']).toContain((await importRow(accepted.id)).status);
    const done = await finished(b, user, accepted.id, 90_000);
    await expectAllImported(b, user, done, file);
    expect(await duplicateSources()).toEqual([]);
  });
});
