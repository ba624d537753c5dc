import { randomUUID } from 'node:crypto';
import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { GenerationRegistry } from '../../src/assistant/generation-registry';
import { startTestApp } from '../helpers/app';
import { AssistantTestApp, startAssistantApp, TEST_LLM_KEY } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { countQueries } from '../helpers/query-counter';
import { openStream, textOf } from '../helpers/sse-client';

const KEY = 'Idempotency-Key';
const TOKENS = Array.from({ length: 12 }, (_, i) => `w${i} `);

jest.setTimeout(30_000);

describe('Idempotency-Key on POST /chat-rooms/:roomId/generations (e2e)', () => {
  let t: AssistantTestApp;
  let alice: RegisteredUser;
  let bob: RegisteredUser;

  beforeAll(async () => {
    t = await startAssistantApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(() => t.close());
  afterEach(() => (t.fake.defaultScript = { tokens: ['Hello', ', ', 'world', '!'] }));

  const startWithKey = (user: RegisteredUser, roomId: string, key: string, body: object) =>
    t.http.post(`/api/chat-rooms/${roomId}/generations`).set(user.auth).set(KEY, key).send(body);
  const counts = async (roomId: string) =>
    (
      await t.db.query<{ generations: number; messages: number }>(
        `SELECT (SELECT count(*)::int FROM generations WHERE chat_room_id = $1) AS generations,
                (SELECT count(*)::int FROM messages WHERE chat_room_id = $1) AS messages`,
        [roomId],
      )
    ).rows[0];
  const ended = (id: string, user = alice) =>
    eventually(async () => {
      const res = await t.http.get(`/api/generations/${id}`).set(user.auth).expect(200);
      return res.body.status !== 'streaming' && (res.body as { status: string; content: string });
    });
  /** Model requests made while `action` runs and its generations end. */
  const modelRequests = async (action: () => Promise<string[]>) => {
    const before = t.fake.streamed().length;
    const ids = await action();
    for (const id of new Set(ids)) await ended(id);
    return t.fake.streamed().length - before;
  };

  it('a retry gets the first 202 again (body and Location), one generation, one model request; also after it finished', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    t.fake.enqueue({ tokens: TOKENS, paceMs: 20 });
    let first!: Awaited<ReturnType<typeof startWithKey>>;
    const requests = await modelRequests(async () => {
      first = await startWithKey(alice, room.id, key, { content: 'once' }).expect(202);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      const id = first.body.generation.id as string;
      expect(first.headers.location).toBe(`/api/generations/${id}/events`);
      // While it runs, and below after it finished.
      const again = await startWithKey(alice, room.id, key, { content: 'once' }).expect(202);
      expect(again.text).toBe(first.text);
      expect(again.headers.location).toBe(first.headers.location);
      expect(again.headers['idempotent-replayed']).toBe('true');
      return [id];
    });
    expect(requests).toBe(1);
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
    const after = await startWithKey(alice, room.id, key, { content: 'once' }).expect(202);
    expect(after.text).toBe(first.text);
    expect(after.headers.location).toBe(first.headers.location);
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
    expect(t.fake.streamed().at(-1)!.body.messages.at(-1)).toEqual({
      role: 'user',
      content: 'once',
    });
  });

  it('20 concurrent requests with one key: one generation, one model request; every answer the first or 409', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    t.fake.enqueue({ tokens: TOKENS, paceMs: 10 });
    let answers: Awaited<ReturnType<typeof startWithKey>>[] = [];
    const requests = await modelRequests(async () => {
      answers = await Promise.all(
        Array.from({ length: 20 }, () => startWithKey(alice, room.id, key, { content: 'burst' })),
      );
      return answers.filter((a) => a.status === 202).map((a) => a.body.generation.id as string);
    });
    expect(requests).toBe(1);
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
    const accepted = answers.filter((a) => a.status === 202);
    expect(accepted.length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) {
      if (answer.status === 202) {
        expect(answer.text).toBe(accepted[0].text);
        expect(answer.headers.location).toBe(accepted[0].headers.location);
      } else {
        expectErrorBody(answer, 409);
        expect(answer.body.message).toMatch(/Idempotency-Key/);
        expect(answer.headers['retry-after']).toBe('1');
      }
    }
    const after = await startWithKey(alice, room.id, key, { content: 'burst' }).expect(202);
    expect(after.text).toBe(accepted[0].text);
  });

  it('an event-stream retry streams the same generation from event 1 to done; a JSON retry answers its 202', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    t.fake.enqueue({ tokens: TOKENS, paceMs: 40 });
    const open = () =>
      openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
        token: alice.token,
        method: 'POST',
        body: { content: 'stream it' },
        headers: { [KEY]: key },
      });
    let firstId = '';
    const requests = await modelRequests(async () => {
      const first = await open();
      expect(first.status).toBe(200);
      await first.waitFor(3);
      // Mid-reply: the retry gets everything from the start, then follows live.
      const retry = await open();
      expect(retry.status).toBe(200);
      expect(retry.headers['content-type']).toMatch(/^text\/event-stream/);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      await Promise.all([first.ended, retry.ended]);
      firstId = first.events[0].data.generation.id as string;
      expect(retry.events[0]).toMatchObject({ id: 1, event: 'start' });
      expect(retry.events[0].data.generation.id).toBe(firstId);
      expect(retry.events[0].data).toEqual(first.events[0].data);
      expect(retry.events.map((e) => e.id)).toEqual(retry.events.map((_, i) => i + 1));
      expect(retry.events.at(-1)!.event).toBe('done');
      expect(textOf(retry.events)).toBe(TOKENS.join(''));
      expect(textOf(first.events)).toBe(TOKENS.join(''));
      const json = await startWithKey(alice, room.id, key, { content: 'stream it' }).expect(202);
      expect(json.body).toEqual(first.events[0].data);
      expect(json.headers.location).toBe(`/api/generations/${firstId}/events`);
      // And after it finished, the stream again replays to done.
      const late = await open();
      await late.ended;
      expect(late.events[0].data.generation.id).toBe(firstId);
      expect(late.events.at(-1)!.event).toBe('done');
      expect(textOf(late.events)).toBe(TOKENS.join(''));
      return [firstId];
    });
    expect(requests).toBe(1);
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
  });

  it('the same key with a different body is 422: nothing created, no model request', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    const first = await startWithKey(alice, room.id, key, { content: 'one' }).expect(202);
    await ended(first.body.generation.id as string);
    const before = t.fake.streamed().length;
    for (const body of [{ content: 'two' }, { content: 'one', model: 'other-model' }, {}]) {
      const res = await startWithKey(alice, room.id, key, body);
      expectErrorBody(res, 422);
    }
    // On another route (a message of the same room) too.
    expectErrorBody(
      await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(alice.auth)
        .set(KEY, key)
        .send({ content: 'one' }),
      422,
    );
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
    expect(t.fake.streamed().length).toBe(before);
  });

  it('another user’s identical key is unrelated: a generation of their own', async () => {
    const key = randomUUID();
    const aliceRoom = await createRoom(t.http, alice);
    const bobRoom = await createRoom(t.http, bob);
    const requests = await modelRequests(async () => {
      const a = await startWithKey(alice, aliceRoom.id, key, { content: 'same' }).expect(202);
      const b = await startWithKey(bob, bobRoom.id, key, { content: 'same' }).expect(202);
      expect(b.headers['idempotent-replayed']).toBeUndefined();
      expect(b.body.generation.id).not.toBe(a.body.generation.id);
      await ended(b.body.generation.id as string, bob);
      return [a.body.generation.id as string];
    });
    expect(requests).toBe(2);
    expect(await counts(bobRoom.id)).toEqual({ generations: 1, messages: 2 });
  });

  it('409 at once while another transaction holds the key: no generation, no model request', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    const before = t.fake.streamed().length;
    await t.db.query('BEGIN');
    await t.db.query(
      `SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || ' ' || $2::text, 0))`,
      [alice.id, key],
    );
    try {
      const res = await startWithKey(alice, room.id, key, { content: 'held' });
      expectErrorBody(res, 409);
      expect(res.headers['retry-after']).toBe('1');
    } finally {
      await t.db.query('ROLLBACK');
    }
    expect(await counts(room.id)).toEqual({ generations: 0, messages: 0 });
    expect(t.fake.streamed().length).toBe(before);
  });

  it('a start that fails (room busy) stores no answer: its retry runs afresh once the room is free', async () => {
    const room = await createRoom(t.http, alice);
    t.fake.enqueue({ tokens: TOKENS, paceMs: 20 });
    const running = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(alice.auth)
      .send({ content: 'first' })
      .expect(202);
    const key = randomUUID();
    expectErrorBody(await startWithKey(alice, room.id, key, { content: 'next' }), 409);
    await ended(running.body.generation.id as string);
    const retried = await startWithKey(alice, room.id, key, { content: 'next' }).expect(202);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
    await ended(retried.body.generation.id as string);
    expect(await counts(room.id)).toEqual({ generations: 2, messages: 4 });
  });

  it('a process that dies between COMMIT and the runner: the sweep ends the generation, retries get it', async () => {
    // Instance B commits the key and the generation, then "dies" before its runner starts.
    const b = await startTestApp(
      {
        LLM_BASE_URL: t.fake.url,
        LLM_API_KEY: TEST_LLM_KEY,
        LLM_MODEL: 'fake-model',
        LLM_AUTO_TITLE: 'false',
      },
      { databaseUrl: t.databaseUrl },
    );
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    const before = t.fake.streamed().length;
    let first;
    try {
      b.app.get(GenerationRegistry).run = () => undefined as never;
      first = await b.http
        .post(`/api/chat-rooms/${room.id}/generations`)
        .set(alice.auth)
        .set(KEY, key)
        .send({ content: 'lost' })
        .expect(202);
    } finally {
      await b.close();
    }
    const id = first.body.generation.id as string;
    // A's sweep (every 5 s) finds it: B's instance lease is gone.
    const swept = await ended(id);
    expect(swept).toMatchObject({ status: 'failed', error: { code: 'interrupted' }, content: '' });
    // Retries on A replay the answer and the stream; none of them starts the model.
    const json = await startWithKey(alice, room.id, key, { content: 'lost' }).expect(202);
    expect(json.text).toBe(first.text);
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: alice.token,
      method: 'POST',
      body: { content: 'lost' },
      headers: { [KEY]: key },
    });
    await stream.ended;
    expect(stream.events[0].data.generation.id).toBe(id);
    expect(stream.events.at(-1)).toMatchObject({
      event: 'done',
      data: { generation: { status: 'failed', error: { code: 'interrupted' } } },
    });
    expect(t.fake.streamed().length).toBe(before);
    expect(await counts(room.id)).toEqual({ generations: 1, messages: 2 });
  });

  it('statements: none for idempotency without a key (nor a transaction); with one, the start in the key’s transaction', async () => {
    const room = await createRoom(t.http, alice);
    const run = (headers: Record<string, string>, content: string) =>
      countQueries(async () => {
        const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
          token: alice.token,
          method: 'POST',
          body: { content },
          headers,
        });
        await stream.ended;
        return stream;
      });
    const plain = await run({}, 'no key');
    const keyed = await run({ [KEY]: randomUUID() }, 'with key');
    expect(textOf(plain.result.events)).toBe('Hello, world!');
    expect(textOf(keyed.result.events)).toBe('Hello, world!');
    // The sweep for dead instances and the flushes run on their own clocks.
    const ours = (sql: string[]) =>
      sql.filter((text) => !text.includes('pg_locks') && !text.includes('unnest('));
    expect(ours(plain.sql).filter((text) => text.includes('idempotency_keys'))).toEqual([]);
    expect(ours(plain.sql)).not.toContain('BEGIN');
    expect(ours(keyed.sql).filter((text) => text.includes('idempotency_keys'))).toHaveLength(2);
    // BEGIN, the claim, the stored answer, COMMIT.
    expect(ours(keyed.sql)).toHaveLength(ours(plain.sql).length + 4);
  });

  it('Swagger documents the header, 409 and 422, and the replay header of 202 and 200', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body as {
      paths: Record<
        string,
        Record<string, { parameters: object[]; responses: Record<string, { headers?: object }> }>
      >;
    };
    const operation = doc.paths['/api/chat-rooms/{roomId}/generations'].post;
    expect(operation.parameters).toContainEqual(
      expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
    );
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(['409', '422']));
    expect(Object.keys(operation.responses['202'].headers ?? {}).sort()).toEqual([
      'Idempotent-Replayed',
      'Location',
    ]);
    expect(Object.keys(operation.responses['200'].headers ?? {})).toEqual(['Idempotent-Replayed']);
    expect(Object.keys(operation.responses['409'].headers ?? {})).toEqual(['Retry-After']);
  });
});
