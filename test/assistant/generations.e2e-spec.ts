import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { createRoom, linkAsLines, postMessage } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, startAssistantApp, TEST_LLM_KEY } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { FLUSH_INTERVAL_MS } from '../../src/assistant/generation-flusher';
import { SQL } from '../../src/assistant/generations.repository';
import { valuesOf } from '../../src/database/statement';
import { countQueries } from '../helpers/query-counter';
import { expectNoLeaks, LogCapture } from '../helpers/leaks';
import { openStream, SseEvent, textOf } from '../helpers/sse-client';

const TOKENS = Array.from({ length: 30 }, (_, i) => `t${i} `);
const FULL = TOKENS.join('');

interface GenerationBody {
  id: string;
  status: string;
  content: string;
  finishReason: string | null;
  usage: { promptTokens: number; completionTokens: number } | null;
  error: { code: string; message: string } | null;
  messageId: string;
}

/** Ids 1..n, each once, in order. */
function expectConsecutive(events: SseEvent[], from = 1): void {
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => from + i));
}

jest.setTimeout(30_000);

describe('assistant replies (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;
  let other: RegisteredUser;
  const logs = new LogCapture();
  const bodies: string[] = [];

  beforeAll(async () => {
    t = await startAssistantApp(
      { LLM_CONTEXT_CHARS: '1000', LLM_IDLE_TIMEOUT_MS: '1500' },
      { logStream: logs.stream },
    );
    user = await registerUser(t.http);
    other = await registerUser(t.http);
  });
  afterAll(() => t.close());
  afterEach(() => (t.fake.defaultScript = { tokens: ['Hello', ', ', 'world', '!'] }));

  const generation = async (id: string, who = user) => {
    const res = await t.http.get(`/api/generations/${id}`).set(who.auth).expect(200);
    bodies.push(res.text);
    return res.body as GenerationBody;
  };
  const start = async (roomId: string, body: object = { content: 'go' }) => {
    const res = await t.http
      .post(`/api/chat-rooms/${roomId}/generations`)
      .set(user.auth)
      .send(body);
    bodies.push(res.text);
    return res;
  };
  const ended = (id: string) =>
    eventually(async () => {
      const g = await generation(id);
      return g.status !== 'streaming' && g;
    });

  it('GET /api/models lists the configured models, the default marked', async () => {
    const res = await t.http.get('/api/models').set(user.auth).expect(200);
    expect(res.body).toEqual({
      items: [
        { id: 'fake-model', default: true },
        { id: 'other-model', default: false },
      ],
    });
  });

  it('streams a reply that equals the stored message, ids 1..n, done last', async () => {
    const room = await createRoom(t.http, user, 'Streaming');
    t.fake.enqueue({ tokens: ['The ', 'quick ', 'brown ', 'fox'], paceMs: 5 });
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: user.token,
      method: 'POST',
      body: { content: 'Tell me about foxes' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(stream.headers['x-content-type-options']).toBe('nosniff');
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual([
      'start',
      'delta',
      'delta',
      'delta',
      'delta',
      'done',
    ]);
    expectConsecutive(stream.events);
    const start = stream.events[0].data;
    expect(start.userMessage.content).toBe('Tell me about foxes');
    expect(start.assistantMessage).toMatchObject({
      content: '',
      status: 'streaming',
      model: 'fake-model',
    });
    const done = stream.events.at(-1)!.data;
    expect(done.message.content).toBe('The quick brown fox');
    expect(done.generation).toMatchObject({
      status: 'complete',
      finishReason: 'stop',
      error: null,
    });
    expect(done.generation.usage).toEqual({ promptTokens: 42, completionTokens: 4 });
    expect(textOf(stream.events)).toBe('The quick brown fox');
    // Timestamps in the API's form, from every statement that gives them.
    const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    expect(start.generation.createdAt).toBe(start.assistantMessage.createdAt);
    expect(start.generation.createdAt).toMatch(iso);
    expect(Date.parse(start.generation.createdAt) - Date.parse(start.userMessage.createdAt)).toBe(
      1,
    );
    expect(done.generation.finishedAt).toMatch(iso);
    expect(done.generation.createdAt).toBe(start.generation.createdAt);
    const read = await generation(done.generation.id);
    expect(read).toMatchObject({ ...done.generation, content: 'The quick brown fox' });

    const stored = await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth).expect(200);
    expect(stored.body.messages.at(-1)).toMatchObject({
      role: 'assistant',
      content: 'The quick brown fox',
      status: 'complete',
      model: 'fake-model',
      generationId: done.generation.id,
    });
    expect(Date.parse(stored.body.updatedAt)).toBeGreaterThanOrEqual(
      Date.parse(stored.body.messages.at(-1).createdAt),
    );
    expect((await generation(done.generation.id)).content).toBe('The quick brown fox');
    // The request asked for a stream and for usage, with the key.
    const sent = t.fake.streamed().at(-1)!;
    expect(sent.body.stream).toBe(true);
    expect(sent.body.stream_options).toEqual({ include_usage: true });
    expect(sent.headers.authorization).toBe(`Bearer ${TEST_LLM_KEY}`);
  });

  it('JSON start: 202 with Location, both messages stored at once; the stream replays to done', async () => {
    const room = await createRoom(t.http, user);
    await postMessage(t.http, user, room.id, 'first question');
    t.fake.enqueue({ tokens: TOKENS, paceMs: 10 });
    const res = await start(room.id, {});
    expect(res.status).toBe(202);
    expect(res.headers.location).toBe(`/api/generations/${res.body.generation.id}/events`);
    expect(res.body.userMessage).toBeNull();
    expect(res.body.assistantMessage).toMatchObject({ status: 'streaming', content: '' });
    const { rows } = await t.db.query('SELECT status FROM messages WHERE id = $1', [
      res.body.assistantMessage.id,
    ]);
    expect(rows).toEqual([{ status: 'streaming' }]);
    const id = res.body.generation.id as string;
    await ended(id);
    const stream = await openStream(t.base, `/api/generations/${id}/events`, { token: user.token });
    await stream.ended;
    expect(stream.events).toHaveLength(TOKENS.length + 2);
    expectConsecutive(stream.events);
    expect(textOf(stream.events)).toBe(FULL);
  });

  it('sends the system prompt and the history oldest first, cut from the oldest end', async () => {
    const room = (
      await t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .send({ title: 'Context', systemPrompt: 'S'.repeat(100) })
        .expect(201)
    ).body as { id: string };
    await postMessage(t.http, user, room.id, 'a'.repeat(400));
    await postMessage(t.http, user, room.id, 'b'.repeat(400), 'assistant');
    // A failed reply without text says nothing: left out.
    await t.db.query(
      `INSERT INTO messages (chat_room_id, role, content, status, created_at)
       VALUES ($1, 'assistant', '', 'failed', now())`,
      [room.id],
    );
    await linkAsLines(t.db, [room.id]);
    const res = await start(room.id, { content: 'c'.repeat(300) });
    await ended(res.body.generation.id);
    // 1000 characters: 100 of system prompt, the newest 300, the 400 before; not the oldest 400.
    expect(t.fake.streamed().at(-1)!.body.messages).toEqual([
      { role: 'system', content: 'S'.repeat(100) },
      { role: 'assistant', content: 'b'.repeat(400) },
      { role: 'user', content: 'c'.repeat(300) },
    ]);
    // The reply itself is history for the next one.
    const next = await start(room.id, { content: 'd' });
    await ended(next.body.generation.id);
    expect(t.fake.streamed().at(-1)!.body.messages.slice(-2)).toEqual([
      { role: 'assistant', content: 'Hello, world!' },
      { role: 'user', content: 'd' },
    ]);
  });

  it('always sends the newest message, even beyond LLM_CONTEXT_CHARS', async () => {
    const room = await createRoom(t.http, user);
    await postMessage(t.http, user, room.id, 'old');
    const res = await start(room.id, { content: 'x'.repeat(5000) });
    await ended(res.body.generation.id);
    expect(t.fake.streamed().at(-1)!.body.messages).toEqual([
      { role: 'user', content: 'x'.repeat(5000) },
    ]);
  });

  it('a client that disconnects mid-reply does not stop it: the full reply is stored', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ tokens: TOKENS, paceMs: 15 });
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: user.token,
      method: 'POST',
      body: { content: 'long answer please' },
    });
    await stream.waitFor(4);
    stream.close();
    const id = stream.events[0].data.generation.id as string;
    const final = await ended(id);
    expect(final.status).toBe('complete');
    expect(final.content).toBe(FULL);
    expect(t.fake.streamed().at(-1)!.abortedByClient).toBe(false);
  });

  it('stores the text while streaming, never more than about a second behind', async () => {
    const room = await createRoom(t.http, user);
    // Ten seconds of reply: still streaming when the first flush is seen, however slow the run.
    const tokens = Array.from({ length: 200 }, (_, i) => `t${i} `);
    t.fake.enqueue({ tokens, paceMs: 50 });
    const res = await start(room.id);
    const id = res.body.generation.id as string;
    const stored = await eventually(
      async () => {
        const { rows } = await t.db.query<{ content: string; status: string }>(
          'SELECT content, status FROM messages WHERE id = $1',
          [res.body.assistantMessage.id],
        );
        return rows[0].content.length > 0 && rows[0];
      },
      { intervalMs: 20, message: 'text stored' },
    );
    // Stored by a flush while the reply goes on, not only by the terminal write.
    expect(stored.status).toBe('streaming');
    expect(tokens.join('').startsWith(stored.content)).toBe(true);
    await t.http.post(`/api/generations/${id}/cancel`).set(user.auth).expect(200);
    await ended(id);
  });

  it('resumes with Last-Event-ID from several points: before + after = stored, nothing twice', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ tokens: TOKENS, paceMs: 15 });
    const res = await start(room.id);
    const id = res.body.generation.id as string;
    // Live: read to event 8, leave, come back after it.
    const first = await openStream(t.base, `/api/generations/${id}/events`, { token: user.token });
    await first.waitFor(8);
    first.close();
    const seen = first.events.slice(0, 8);
    const rest = await openStream(t.base, `/api/generations/${id}/events`, {
      token: user.token,
      lastEventId: 8,
    });
    await rest.ended;
    expectConsecutive(rest.events, 9);
    expect(textOf([...seen, ...rest.events])).toBe(FULL);
    expect(rest.events.at(-1)!.event).toBe('done');

    // Finished: every point replays exactly the events after it.
    const total = TOKENS.length + 2;
    for (const n of [0, 1, 2, 17, total - 1, total]) {
      const s = await openStream(t.base, `/api/generations/${id}/events`, {
        token: user.token,
        lastEventId: n,
      });
      await s.ended;
      expect(s.events.map((e) => e.id)).toEqual(
        Array.from({ length: total - n }, (_, i) => n + 1 + i),
      );
    }
    const whole = await openStream(t.base, `/api/generations/${id}/events`, { token: user.token });
    await whole.ended;
    const before = whole.events.slice(0, 12);
    const after = await openStream(t.base, `/api/generations/${id}/events`, {
      token: user.token,
      lastEventId: 12,
    });
    await after.ended;
    expect(textOf(before) + textOf(after.events)).toBe((await generation(id)).content);
  });

  it('cancel aborts the request to the model, keeps the text, and is stopped', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ tokens: Array.from({ length: 200 }, () => 'word '), paceMs: 20 });
    const res = await start(room.id);
    const id = res.body.generation.id as string;
    await eventually(async () => (await generation(id)).content.length > 0);
    const cancelled = await t.http.post(`/api/generations/${id}/cancel`).set(user.auth).expect(200);
    expect(cancelled.body).toMatchObject({ id, status: 'stopped', error: null });
    expect(cancelled.body).not.toHaveProperty('content');
    const upstream = t.fake.streamed().at(-1)!;
    await upstream.closed;
    expect(upstream.abortedByClient).toBe(true);
    expect(upstream.sent).toBeLessThan(200);
    const final = await generation(id);
    expect(final.content).toBe('word '.repeat(final.content.length / 5));
    expect(final.content.length).toBeGreaterThan(0);
    const { rows } = await t.db.query('SELECT status, content FROM messages WHERE id = $1', [
      final.messageId,
    ]);
    expect(rows[0]).toEqual({ status: 'stopped', content: final.content });
    // A finished generation: nothing changes.
    const again = await t.http.post(`/api/generations/${id}/cancel`).set(user.auth).expect(200);
    expect(again.body).toEqual(cancelled.body);
  });

  it.each([
    ['HTTP 401', { status: 401 }, 'upstream_error', ''],
    ['HTTP 429', { status: 429 }, 'upstream_rate_limited', ''],
    ['HTTP 500', { status: 500 }, 'upstream_error', ''],
    [
      'an error chunk',
      { tokens: ['one ', 'two ', 'three'], errorAfter: 2 },
      'upstream_error',
      'one two ',
    ],
    [
      'an end without finish',
      { tokens: ['one ', 'two '], endAfter: 2 },
      'upstream_truncated',
      'one two ',
    ],
    [
      '[DONE] without finish',
      { tokens: ['one '], finishReason: null },
      'upstream_truncated',
      'one ',
    ],
    [
      'a broken connection',
      { tokens: ['one ', 'two '], destroyAfter: 1 },
      'upstream_truncated',
      'one ',
    ],
    ['silence', { tokens: ['one ', 'two '], silentAfter: 1 }, 'upstream_timeout', 'one '],
  ])(
    '%s ends the generation as failed (%s) with the text so far',
    async (_what, script, code, text) => {
      const room = await createRoom(t.http, user);
      t.fake.enqueue(script);
      const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
        token: user.token,
        method: 'POST',
        body: { content: 'fail please' },
      });
      expect(stream.status).toBe(200);
      await stream.ended;
      bodies.push(stream.text);
      const done = stream.events.at(-1)!;
      expect(done.event).toBe('done');
      expect(done.data.generation.status).toBe('failed');
      expect(done.data.generation.error.code).toBe(code);
      expect(done.data.message).toMatchObject({ status: 'failed', content: text });
      expect(textOf(stream.events)).toBe(text);
      const stored = await generation(done.data.generation.id);
      expect(stored).toMatchObject({ status: 'failed', content: text, error: { code } });
      expect(stored.error!.message).not.toContain(t.fake.secret);
    },
  );

  it('keep-alive comments and empty choices are not content', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ tokens: ['a', 'b'], comments: true, emptyChoices: true, usage: false });
    const res = await start(room.id);
    const final = await ended(res.body.generation.id);
    expect(final).toMatchObject({ status: 'complete', content: 'ab' });
    // No usage reported: estimated.
    expect(final.usage!.completionTokens).toBeGreaterThan(0);
    expect(final.usage!.promptTokens).toBeGreaterThan(0);
  });

  it('one reply at a time per room (409), also in the database', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ tokens: TOKENS, paceMs: 20 });
    const first = await start(room.id);
    expect(first.status).toBe(202);
    const second = await start(room.id, { content: 'again' });
    expectErrorBody(second, 409);
    // Nothing of the refused request was stored.
    const { rows } = await t.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE chat_room_id = $1 AND content = 'again'`,
      [room.id],
    );
    expect(rows[0].n).toBe(0);
    await expect(
      t.db.query(
        `INSERT INTO generations (chat_room_id, message_id, user_id, model, owner_instance)
         SELECT chat_room_id, message_id, user_id, model, 1 FROM generations WHERE id = $1`,
        [first.body.generation.id],
      ),
    ).rejects.toThrow(/uq_generations_room_streaming/);
    await t.http
      .post(`/api/generations/${first.body.generation.id}/cancel`)
      .set(user.auth)
      .expect(200);
  });

  it('at most LLM_MAX_CONCURRENT_PER_USER (2) running replies per user: 429', async () => {
    const rooms = [
      await createRoom(t.http, user),
      await createRoom(t.http, user),
      await createRoom(t.http, user),
    ];
    t.fake.enqueue({ tokens: TOKENS, paceMs: 30 }, { tokens: TOKENS, paceMs: 30 });
    const a = await start(rooms[0].id);
    const b = await start(rooms[1].id);
    expect([a.status, b.status]).toEqual([202, 202]);
    expectErrorBody(await start(rooms[2].id), 429);
    await t.http.post(`/api/generations/${a.body.generation.id}/cancel`).set(user.auth).expect(200);
    const c = await start(rooms[2].id);
    expect(c.status).toBe(202);
    await t.http.post(`/api/generations/${b.body.generation.id}/cancel`).set(user.auth).expect(200);
    await ended(c.body.generation.id);
  });

  /** The given user's messages, generations and started generations of today. */
  const stored = async (userId: string) =>
    (
      await t.db.query<{ messages: number; generations: number; started: number }>(
        `SELECT (SELECT count(*)::int FROM messages m JOIN chat_rooms r ON r.id = m.chat_room_id
                 WHERE r.owner_id = $1) AS messages,
                (SELECT count(*)::int FROM generations WHERE user_id = $1) AS generations,
                (SELECT coalesce(sum(generations), 0)::int FROM usage_days WHERE user_id = $1) AS started`,
        [userId],
      )
    ).rows[0];

  it('simultaneous starts of one user: exactly LLM_MAX_CONCURRENT_PER_USER (2) accepted', async () => {
    const busy = await registerUser(t.http);
    const rooms = await Promise.all(Array.from({ length: 8 }, () => createRoom(t.http, busy)));
    t.fake.defaultScript = { tokens: TOKENS, paceMs: 30 };
    const answers = await Promise.all(
      rooms.map((room) =>
        t.http
          .post(`/api/chat-rooms/${room.id}/generations`)
          .set(busy.auth)
          .send({ content: 'at once' })
          .then((res) => res),
      ),
    );
    const accepted = answers.filter((res) => res.status === 202);
    expect(accepted).toHaveLength(2);
    for (const res of answers.filter((r) => r.status !== 202)) expectErrorBody(res, 429);
    // The refused starts stored nothing and counted nothing.
    expect(await stored(busy.id)).toEqual({ messages: 4, generations: 2, started: 2 });
    for (const res of accepted) {
      await t.http
        .post(`/api/generations/${res.body.generation.id}/cancel`)
        .set(busy.auth)
        .expect(200);
    }
  });

  it('starts of one user from several connections (instances) that waited for each other: exactly 2', async () => {
    const busy = await registerUser(t.http);
    const rooms = await Promise.all(Array.from({ length: 8 }, () => createRoom(t.http, busy)));
    const connect = async () => {
      const client = new Client({ connectionString: t.databaseUrl });
      await client.connect();
      return client;
    };
    // Hold the caller's row: each start takes its snapshot, then waits for the lock, so each
    // one that gets it after another start committed has a snapshot without that start.
    const blocker = await connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [busy.id]);
    const clients = await Promise.all(rooms.map(connect));
    const pending = rooms.map((room, i) =>
      clients[i].query<{ refused: string | null }>(
        SQL.start.text,
        valuesOf(SQL.start, {
          roomId: room.id,
          userId: busy.id,
          sessionId: busy.sessionId,
          content: 'at once',
          placeUnder: false,
          parentId: null,
          ifMatch: null,
          model: null,
          offeredModels: ['fake-model'],
          defaultModel: 'fake-model',
          maxRunningPerUser: 2,
          dailyTokenLimit: null,
          generationId: randomUUID(),
          instanceKey: 0, // no live instance: the sweep ends these generations
        }),
      ),
    );
    await eventually(async () => {
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
         WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      return rows[0].n >= rooms.length;
    });
    await blocker.query('COMMIT');
    const refused = (await Promise.all(pending)).map((result) => result.rows[0].refused);
    await Promise.all([blocker, ...clients].map((client) => client.end()));
    expect(refused.filter((r) => r === null)).toHaveLength(2);
    expect(refused.filter((r) => r !== null)).toEqual(Array(6).fill('concurrency'));
    expect(await stored(busy.id)).toEqual({ messages: 4, generations: 2, started: 2 });
    // Gone with their user: left streaming, the sweep would end them whenever it next runs,
    // in the middle of another test's statement count.
    await t.http.delete('/api/users/me').set(busy.auth).expect(204);
  });

  it('400 for a room without messages and no content, a bad body, an unknown model', async () => {
    const room = await createRoom(t.http, user);
    expectErrorBody(await start(room.id, {}), 400);
    expectErrorBody(await start(room.id, { content: '   ' }), 400);
    expectErrorBody(await start(room.id, { content: 'x'.repeat(32_001) }), 400);
    expectErrorBody(await start(room.id, { content: 'ok', model: 'no-such-model' }), 400);
    expectErrorBody(await start(room.id, { content: 'ok', extra: 1 }), 400);
    const { rows } = await t.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM messages WHERE chat_room_id = $1',
      [room.id],
    );
    expect(rows[0].n).toBe(0);
  });

  it('uses the room’s model, or the request’s', async () => {
    const room = (
      await t.http.post('/api/chat-rooms').set(user.auth).send({ model: 'other-model' }).expect(201)
    ).body as { id: string; model: string };
    expect(room.model).toBe('other-model');
    const a = await start(room.id);
    expect(a.body.generation.model).toBe('other-model');
    await ended(a.body.generation.id);
    const b = await start(room.id, { content: 'again', model: 'fake-model' });
    expect(b.body.assistantMessage.model).toBe('fake-model');
    await ended(b.body.generation.id);
    expect(t.fake.streamed().at(-1)!.body.model).toBe('fake-model');
  });

  it('another user’s generation is 404 on every route; malformed ids 400; no token 401', async () => {
    const room = await createRoom(t.http, user);
    const res = await start(room.id);
    const id = res.body.generation.id as string;
    await ended(id);
    expectErrorBody(await t.http.get(`/api/generations/${id}`).set(other.auth), 404);
    expectErrorBody(await t.http.get(`/api/generations/${id}/events`).set(other.auth), 404);
    expectErrorBody(await t.http.post(`/api/generations/${id}/cancel`).set(other.auth), 404);
    expectErrorBody(
      await t.http
        .post(`/api/chat-rooms/${room.id}/generations`)
        .set(other.auth)
        .send({ content: 'x' }),
      404,
    );
    expectErrorBody(await t.http.get('/api/generations/not-a-uuid').set(user.auth), 400);
    for (const header of ['x', '9007199254740992']) {
      const res = await t.http
        .get(`/api/generations/${id}/events`)
        .set(user.auth)
        .set('last-event-id', header);
      expectErrorBody(res, 400);
      expect(res.body.message).toBe('Last-Event-ID must be a non-negative integer');
    }
    // The largest id a number holds exactly: the client has everything, the stream just ends.
    const caughtUp = await openStream(t.base, `/api/generations/${id}/events`, {
      token: user.token,
      lastEventId: '9007199254740991',
    });
    expect(caughtUp.status).toBe(200);
    await caughtUp.ended;
    expect(caughtUp.events).toEqual([]);
    expectErrorBody(await t.http.get(`/api/generations/${id}`), 401);
    expectErrorBody(await t.http.get('/api/models'), 401);
    expectErrorBody(await t.http.get('/api/users/me/usage'), 401);
    // A deleted user's token: 401 everywhere, not 404 for their vanished generations.
    const gone = await registerUser(t.http);
    const goneRoom = await createRoom(t.http, gone);
    const goneStart = await t.http
      .post(`/api/chat-rooms/${goneRoom.id}/generations`)
      .set(gone.auth)
      .send({ content: 'bye' })
      .expect(202);
    await t.http.delete('/api/users/me').set(gone.auth).expect(204);
    for (const res of [
      await t.http.get('/api/models').set(gone.auth),
      await t.http.get('/api/users/me/usage').set(gone.auth),
      await t.http.get(`/api/generations/${goneStart.body.generation.id}`).set(gone.auth),
    ]) {
      expectErrorBody(res, 401);
    }
  });

  it('GET /api/users/me/usage sums today’s tokens and generations', async () => {
    const fresh = await registerUser(t.http);
    const empty = await t.http.get('/api/users/me/usage').set(fresh.auth).expect(200);
    expect(empty.body).toEqual({
      today: { promptTokens: 0, completionTokens: 0, generations: 0 },
      dailyTokenLimit: null,
    });
    const room = await createRoom(t.http, fresh);
    const res = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(fresh.auth)
      .send({ content: 'hi' })
      .expect(202);
    await eventually(async () => {
      const g = await t.http.get(`/api/generations/${res.body.generation.id}`).set(fresh.auth);
      return g.body.status === 'complete';
    });
    const usage = await t.http.get('/api/users/me/usage').set(fresh.auth).expect(200);
    expect(usage.body.today).toEqual({ promptTokens: 42, completionTokens: 4, generations: 1 });
  });

  it('deleting a room deletes its generations', async () => {
    const room = await createRoom(t.http, user);
    const res = await start(room.id);
    await ended(res.body.generation.id);
    await t.http.delete(`/api/chat-rooms/${room.id}`).set(user.auth).expect(204);
    expectErrorBody(
      await t.http.get(`/api/generations/${res.body.generation.id}`).set(user.auth),
      404,
    );
  });

  it('statements per generation do not grow with its length (one flush per interval)', async () => {
    const room = await createRoom(t.http, user);
    const statements = async (tokens: number) => {
      t.fake.enqueue({ tokens: Array.from({ length: tokens }, () => 'x') });
      const began = Date.now();
      const { result, sql } = await countQueries(async () => {
        const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
          token: user.token,
          method: 'POST',
          body: { content: 'count' },
        });
        await stream.ended;
        return stream;
      });
      expect(textOf(result.events)).toBe('x'.repeat(tokens));
      // The sweep for dead instances runs on its own clock, and so do the flushes (one
      // statement per interval for all generations of the instance).
      const counted = sql.filter((text) => !text.includes('pg_locks'));
      const flushes = counted.filter((text) => text.includes('unnest(')).length;
      expect(flushes).toBeLessThanOrEqual(1 + Math.ceil((Date.now() - began) / FLUSH_INTERVAL_MS));
      return counted.length - flushes;
    };
    const short = await statements(5);
    const long = await statements(500);
    expect(long).toBe(short);
    // The stream's slot, the start (which checks the caller's session), the system prompt, the
    // context, the end, the slot's release.
    expect(short).toBe(6);
  });

  it('a generation read and the model list: 1 statement each, the session checked inside it', async () => {
    const room = await createRoom(t.http, user);
    const res = await start(room.id);
    await ended(res.body.generation.id);
    // The sweeps for dead instances (pg_locks) run on their own clock.
    const own = (sql: string[]) => sql.filter((text) => !text.includes('pg_locks')).length;
    const read = await countQueries(() =>
      t.http.get(`/api/generations/${res.body.generation.id}`).set(user.auth),
    );
    expect(read.result.status).toBe(200);
    expect(own(read.sql)).toBe(1);
    const models = await countQueries(() => t.http.get('/api/models').set(user.auth));
    expect(models.result.status).toBe(200);
    expect(own(models.sql)).toBe(1);
  });

  it('documents every route, status and the event stream in the OpenAPI document', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body;
    const post = doc.paths['/api/chat-rooms/{roomId}/generations'].post;
    expect(Object.keys(post.responses).sort()).toEqual(
      ['200', '202', '400', '401', '404', '409', '412', '413', '415', '422', '429', '503'].sort(),
    );
    expect(post.responses['200'].content).toHaveProperty('text/event-stream');
    expect(post.description).toMatch(/`delta` `\{ text \}`/);
    const events = doc.paths['/api/generations/{generationId}/events'].get;
    expect(events.responses['200'].content).toHaveProperty('text/event-stream');
    expect(events.parameters.map((p: { name: string }) => p.name)).toContain('Last-Event-ID');
    for (const path of [
      '/api/models',
      '/api/generations/{generationId}',
      '/api/generations/{generationId}/cancel',
      '/api/users/me/usage',
    ]) {
      expect(doc.paths).toHaveProperty([path]);
    }
    expect(doc.components.schemas.MessageResponseDto.required).toEqual(
      expect.arrayContaining(['status', 'model', 'generationId']),
    );
  });

  it('never puts the API key or the provider’s error text in a log line or a body', () => {
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.text).toContain('Generation failed upstream');
    expectNoLeaks(logs.text, [TEST_LLM_KEY, t.fake.secret]);
    expectNoLeaks(bodies.join('\n'), [TEST_LLM_KEY, t.fake.secret]);
  });
});
