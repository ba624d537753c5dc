import { Client } from 'pg';
import request from 'supertest';
import { freePort } from '../helpers/net';
import { uniqueEmail } from '../factories/users';
import { TEST_JWT_SECRET } from '../helpers/app';
import { AppProcess, startAppProcess, waitForHealth } from '../helpers/server-process';
import { TEST_LLM_KEY } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { createTestDatabase } from '../helpers/database';
import { FakeModel, startFakeModel } from '../helpers/fake-model';
import { expectNoLeaks } from '../helpers/leaks';
import { openStream, textOf } from '../helpers/sse-client';

jest.setTimeout(240_000);

const TOKENS = Array.from({ length: 60 }, (_, i) => `w${i} `);
const FULL = TOKENS.join('');

/**
 * Real processes of the service (src/main.ts) on one PostgreSQL database: resume and cancel
 * across instances, kill -9 and SIGTERM mid-reply.
 */
describe('several instances of the real process (e2e)', () => {
  let fake: FakeModel;
  let database: { url: string; drop(): Promise<void> };
  let env: Record<string, string>;
  const apps: AppProcess[] = [];
  let token: string;
  let auth: { Authorization: string };

  const launch = async (port?: number) => {
    const app = startAppProcess(port ?? (await freePort()), env);
    apps.push(app);
    await waitForHealth(app.base, app);
    return app;
  };
  const http = (app: AppProcess) => request(app.base);
  /** A new user for the test; its token works on every instance. */
  const signUp = async (app: AppProcess) => {
    const registered = await http(app)
      .post('/api/auth/register')
      .send({ email: uniqueEmail('instances'), password: 'instances-password' })
      .expect(201);
    token = registered.body.accessToken as string;
    auth = { Authorization: `Bearer ${token}` };
  };
  const generation = async (app: AppProcess, id: string) =>
    (await http(app).get(`/api/generations/${id}`).set(auth).expect(200)).body as {
      status: string;
      content: string;
      error: { code: string } | null;
    };
  const newRoom = async (app: AppProcess) =>
    (await http(app).post('/api/chat-rooms').set(auth).send({}).expect(201)).body.id as string;

  beforeAll(async () => {
    fake = await startFakeModel();
    database = await createTestDatabase();
    env = {
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      LLM_BASE_URL: fake.url,
      LLM_API_KEY: TEST_LLM_KEY,
      LLM_MODEL: 'fake-model',
      LLM_AUTO_TITLE: 'false',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: '4000',
      AUTH_RATE_LIMIT: '1000',
    };
  });
  afterAll(async () => {
    for (const app of apps) app.process.kill('SIGKILL');
    await Promise.all(apps.map((app) => app.exited));
    for (const app of apps) expectNoLeaks(app.output.join(''), [TEST_LLM_KEY, fake.secret]);
    await fake.close();
    await database.drop();
  });

  it('resume on another instance with Last-Event-ID; cancel on another instance; per-user 429 across both', async () => {
    const [a, b] = await Promise.all([launch(), launch()]);
    await signUp(a);

    // Started on A, read there up to event 10, resumed on B.
    fake.enqueue({ tokens: TOKENS, paceMs: 20 });
    const room = await newRoom(a);
    const first = await openStream(a.base, `/api/chat-rooms/${room}/generations`, {
      token,
      method: 'POST',
      body: { content: 'hello' },
    });
    await first.waitFor(10);
    first.close();
    const seen = first.events.slice(0, 10);
    const id = seen[0].data.generation.id as string;
    const rest = await openStream(b.base, `/api/generations/${id}/events`, {
      token,
      lastEventId: 10,
    });
    await rest.ended;
    expect(rest.events.map((e) => e.id)).toEqual(rest.events.map((_, i) => 11 + i));
    expect(rest.events.at(-1)!.event).toBe('done');
    expect(textOf([...seen, ...rest.events])).toBe(FULL);
    expect((await generation(b, id)).content).toBe(FULL);

    // Started on A, cancelled on B: stopped within a second, the model's request aborted.
    fake.enqueue({ tokens: Array.from({ length: 500 }, () => 'x'), paceMs: 20 });
    const other = await newRoom(a);
    const started = await http(a)
      .post(`/api/chat-rooms/${other}/generations`)
      .set(auth)
      .send({ content: 'long' })
      .expect(202);
    const gid = started.body.generation.id as string;
    await eventually(async () => (await generation(b, gid)).content.length > 0);
    const upstream = fake.streamed().at(-1)!;
    const before = Date.now();
    const cancelled = await http(b).post(`/api/generations/${gid}/cancel`).set(auth).expect(200);
    expect(Date.now() - before).toBeLessThan(1000);
    expect(cancelled.body.status).toBe('stopped');
    await upstream.closed;
    expect(upstream.abortedByClient).toBe(true);
    const stopped = await generation(a, gid);
    expect(stopped.content).toBe('x'.repeat(stopped.content.length));

    // Two running on A, the third on B: 429.
    fake.enqueue({ tokens: TOKENS, paceMs: 20 }, { tokens: TOKENS, paceMs: 20 });
    const r = [await newRoom(a), await newRoom(a), await newRoom(b)];
    const g1 = await http(a)
      .post(`/api/chat-rooms/${r[0]}/generations`)
      .set(auth)
      .send({ content: '1' })
      .expect(202);
    const g2 = await http(a)
      .post(`/api/chat-rooms/${r[1]}/generations`)
      .set(auth)
      .send({ content: '2' })
      .expect(202);
    await http(b)
      .post(`/api/chat-rooms/${r[2]}/generations`)
      .set(auth)
      .send({ content: '3' })
      .expect(429);
    await http(b).post(`/api/generations/${g1.body.generation.id}/cancel`).set(auth).expect(200);
    await http(b).post(`/api/generations/${g2.body.generation.id}/cancel`).set(auth).expect(200);

    // kill -9 of A mid-reply: B's sweep marks it failed/interrupted with its stored text (within 30 s).
    fake.enqueue({ tokens: TOKENS, paceMs: 50 });
    const doomed = await http(a)
      .post(`/api/chat-rooms/${r[0]}/generations`)
      .set(auth)
      .send({ content: 'die' })
      .expect(202);
    const did = doomed.body.generation.id as string;
    await eventually(async () => (await generation(b, did)).content.length > 0);
    a.process.kill('SIGKILL');
    await a.exited;
    const killedAt = Date.now();
    const swept = await eventually(async () => {
      const g = await generation(b, did);
      return g.status !== 'streaming' && g;
    }, 30_000);
    expect(Date.now() - killedAt).toBeLessThan(30_000);
    expect(swept).toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    expect(swept.content.length).toBeGreaterThan(0);
    expect(FULL.startsWith(swept.content)).toBe(true);
    // Its stream on B replays and ends with done.
    const replay = await openStream(b.base, `/api/generations/${did}/events`, { token });
    await replay.ended;
    expect(replay.events.at(-1)!.event).toBe('done');
    expect(textOf(replay.events)).toBe(swept.content);
    b.process.kill('SIGKILL');
    await b.exited;
  });

  it('kill -9 mid-reply, then restart: failed/interrupted at once, with the flushed text', async () => {
    const port = await freePort();
    let app = await launch(port);
    await signUp(app);
    fake.enqueue({ tokens: TOKENS, paceMs: 50 });
    const room = await newRoom(app);
    const res = await http(app)
      .post(`/api/chat-rooms/${room}/generations`)
      .set(auth)
      .send({ content: 'x' })
      .expect(202);
    const id = res.body.generation.id as string;
    const db = new Client({ connectionString: database.url });
    await db.connect();
    const stored = () =>
      db
        .query<{ content: string }>(
          'SELECT m.content FROM generations g JOIN messages m ON m.id = g.message_id WHERE g.id = $1',
          [id],
        )
        .then((r) => r.rows[0].content);
    await eventually(async () => (await stored()).length > 0);
    app.process.kill('SIGKILL');
    await app.exited;
    app = await launch(port);
    const g = await generation(app, id);
    expect(g).toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    expect(g.content.length).toBeGreaterThan(0);
    expect(FULL.startsWith(g.content)).toBe(true);
    expect(g.content).toBe(await stored());
    await db.end();
    app.process.kill('SIGKILL');
    await app.exited;
  });

  it('SIGTERM mid-reply: a short reply finishes, a long one is stored with every streamed character', async () => {
    const app = await launch();
    await signUp(app);
    const rooms = [await newRoom(app), await newRoom(app)];
    fake.enqueue(
      { tokens: TOKENS.slice(0, 20), paceMs: 50 },
      { tokens: Array.from({ length: 400 }, (_, i) => `${i} `), paceMs: 25 },
    );
    const short = await openStream(app.base, `/api/chat-rooms/${rooms[0]}/generations`, {
      token,
      method: 'POST',
      body: { content: 'short' },
    });
    const long = await openStream(app.base, `/api/chat-rooms/${rooms[1]}/generations`, {
      token,
      method: 'POST',
      body: { content: 'long' },
    });
    await long.waitFor(5);
    app.process.kill('SIGTERM');
    const code = await app.exited;
    expect(code).toBe(0);
    await Promise.all([short.ended, long.ended]);
    expect(app.output.join('')).toContain('SIGTERM received');

    const check = await launch();
    const shortId = short.events[0].data.generation.id as string;
    const longId = long.events[0].data.generation.id as string;
    const s = await generation(check, shortId);
    expect(s).toMatchObject({ status: 'complete', content: TOKENS.slice(0, 20).join('') });
    const l = await generation(check, longId);
    expect(l).toMatchObject({ status: 'failed', error: { code: 'interrupted' } });
    // Everything the client was sent is stored (and the stream ended with done).
    expect(long.events.at(-1)!.event).toBe('done');
    expect(l.content).toBe(textOf(long.events));
    expect(l.content.length).toBeGreaterThan(0);
    check.process.kill('SIGKILL');
    await check.exited;
  });
});
