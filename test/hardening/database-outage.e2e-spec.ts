import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';
import { expectNoLeaks, LogCapture } from '../helpers/leaks';
import { eventually } from '../helpers/eventually';
import { ControlledPostgres } from '../helpers/postgres-control';

/**
 * This file runs its own PostgreSQL, so it can stop and start it under a running app without
 * disturbing the other test files.
 */
describe('database outage (e2e)', () => {
  let pg: ControlledPostgres;
  let t: TestApp;
  let user: RegisteredUser;
  const logs = new LogCapture();
  const bodies: string[] = [];
  const acknowledged: string[] = [];
  let roomId: string;

  /** Requests must come back (no hanging socket): a 5 s client timeout fails the test. */
  const post = (content: string) =>
    t.http
      .post(`/api/chat-rooms/${roomId}/messages`)
      .set(user.auth)
      .send({ content })
      .timeout(5000)
      .then((res) => {
        bodies.push(res.text);
        if (res.status === 201) acknowledged.push(res.body.id as string);
        return res;
      });

  /** The app answers 200 on /api/health again. */
  const healthy = () =>
    eventually(async () => (await t.http.get('/api/health').timeout(5000)).status === 200, {
      timeoutMs: 20_000,
      intervalMs: 250,
      message: 'health 200',
    });

  beforeAll(async () => {
    pg = await ControlledPostgres.create('outage');
    t = await startTestApp(
      { DB_CONNECT_TIMEOUT_MS: '1000', DB_STATEMENT_TIMEOUT_MS: '2000' },
      { databaseUrl: pg.url, logStream: logs.stream },
    );
    user = await registerUser(t.http);
    roomId = (await t.http.post('/api/chat-rooms').set(user.auth).send({}).expect(201)).body.id;
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await pg?.destroy();
  });

  it('serves, fails fast with 503 while PostgreSQL is down, and recovers without a restart', async () => {
    for (let i = 0; i < 5; i++) expect((await post(`before ${i}`)).status).toBe(201);

    await t.db.end().catch(() => undefined); // the test's own connection dies with the server
    await pg.stop();

    const health = await t.http.get('/api/health').timeout(5000);
    bodies.push(health.text);
    expectErrorBody(health, 503);
    for (let i = 0; i < 3; i++) {
      const res = await post(`during ${i}`);
      expectErrorBody(res, 503);
      expect(res.headers['retry-after']).toBeDefined();
    }
    const list = await t.http.get('/api/chat-rooms').set(user.auth).timeout(5000);
    const login = await t.http
      .post('/api/auth/login')
      .send({ email: user.email, password: user.password })
      .timeout(5000);
    bodies.push(list.text, login.text);
    expectErrorBody(list, 503);
    expectErrorBody(login, 503);

    await pg.start();
    await healthy();

    for (let i = 0; i < 3; i++) expect((await post(`after ${i}`)).status).toBe(201);
    const room = await t.http.get(`/api/chat-rooms/${roomId}`).set(user.auth).expect(200);
    const stored = (room.body.messages as { id: string; content: string }[]).map((m) => m.id);
    // Every acknowledged write survived; nothing answered with an error was applied.
    expect(stored.sort()).toEqual([...acknowledged].sort());
    expect(
      room.body.messages.some((m: { content: string }) => m.content.startsWith('during')),
    ).toBe(false);
  }, 60_000);

  it('under concurrent writes, a stop and start loses no acknowledged write and half-applies none', async () => {
    let running = true;
    const statuses: number[] = [];
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        const res = await post(`load ${w}.${i}`).catch(() => undefined);
        statuses.push(res?.status ?? 0);
        // A refused write is tried again after a pause, as a client would: the load's own pace.
        if (res?.status !== 201) await sleep(50);
      }
    };
    /** Resolves once `n` more writes than now were acknowledged. */
    const acknowledgedMore = (n: number, message: string) => {
      const target = acknowledged.length + n;
      return eventually(() => acknowledged.length >= target, { timeoutMs: 20_000, message });
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    // Under load before, during and after the outage.
    await acknowledgedMore(16, 'writes before the stop');
    await pg.stop();
    const refusedBefore = statuses.filter((s) => s === 503).length;
    await eventually(() => statuses.filter((s) => s === 503).length >= refusedBefore + 8, {
      timeoutMs: 20_000,
      message: 'writes refused during the outage',
    });
    await pg.start();
    await healthy();
    await acknowledgedMore(16, 'writes after the restart');
    running = false;
    await Promise.all(workers);

    expect(statuses.filter((s) => s === 201).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 201 || s === 503)).toBe(true);
    const db = new Client({ connectionString: pg.url });
    await db.connect();
    try {
      const { rows } = await db.query<{ id: string }>(
        'SELECT id FROM messages WHERE chat_room_id = $1',
        [roomId],
      );
      const stored = new Set(rows.map((r) => r.id));
      expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
      // The room and its messages agree: no message without its room update, or the reverse.
      const room = await db.query(
        `SELECT r.message_count, r.updated_at = (SELECT max(created_at) FROM messages m WHERE m.chat_room_id = r.id) AS latest,
                (SELECT count(*)::int FROM messages m WHERE m.chat_room_id = r.id) AS actual
         FROM chat_rooms r WHERE r.id = $1`,
        [roomId],
      );
      expect(room.rows[0].message_count).toBe(room.rows[0].actual);
      expect(room.rows[0].latest).toBe(true);
    } finally {
      await db.end();
    }
  }, 60_000);

  it('leaked nothing into responses or logs during the outage', () => {
    expect(logs.lines.length).toBeGreaterThan(0);
    expectNoLeaks([...bodies, logs.text].join('\n'), [user.password, user.token, TEST_JWT_SECRET]);
  });
});
