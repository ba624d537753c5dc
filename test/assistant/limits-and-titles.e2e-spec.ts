import { createRoom } from '../factories/chat';
import { registerUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { openStream } from '../helpers/sse-client';

jest.setTimeout(30_000);

describe('without LLM_BASE_URL (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ LLM_BASE_URL: '', LLM_MODEL: '' });
  });
  afterAll(() => t.close());

  it('starts as today; the assistant routes answer 503 saying what to set', async () => {
    const user = await registerUser(t.http);
    const room = await createRoom(t.http, user);
    const id = '00000000-0000-4000-8000-000000000000';
    for (const res of [
      await t.http.get('/api/models').set(user.auth),
      await t.http
        .post(`/api/chat-rooms/${room.id}/generations`)
        .set(user.auth)
        .send({ content: 'hi' }),
      await t.http.get(`/api/generations/${id}`).set(user.auth),
      await t.http.get(`/api/generations/${id}/events`).set(user.auth),
      await t.http.post(`/api/generations/${id}/cancel`).set(user.auth),
    ]) {
      expectErrorBody(res, 503);
      expect(res.body.message).toMatch(/LLM_BASE_URL/);
    }
    // Rooms and messages work; a room cannot name a model when none is offered.
    await t.http
      .post(`/api/chat-rooms/${room.id}/messages`)
      .set(user.auth)
      .send({ content: 'x' })
      .expect(201);
    expectErrorBody(
      await t.http.post('/api/chat-rooms').set(user.auth).send({ model: 'gpt' }),
      400,
    );
    const usage = await t.http.get('/api/users/me/usage').set(user.auth).expect(200);
    expect(usage.body.dailyTokenLimit).toBeNull();
  });
});

describe('daily token limit and auto-titles (e2e)', () => {
  let t: AssistantTestApp;
  beforeAll(async () => {
    t = await startAssistantApp({ LLM_DAILY_TOKEN_LIMIT: '60', LLM_AUTO_TITLE: 'true' });
  });
  afterAll(() => t.close());

  const finished = (auth: { Authorization: string }, id: string) =>
    eventually(async () => {
      const res = await t.http.get(`/api/generations/${id}`).set(auth);
      return res.body.status !== 'streaming' && res.body;
    });

  it('429 with Retry-After until midnight UTC once today’s tokens reach the limit', async () => {
    const user = await registerUser(t.http);
    const room = await createRoom(t.http, user, 'Named');
    // 42 prompt + 4 completion tokens: 46, under 60.
    const first = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({ content: 'a' })
      .expect(202);
    await finished(user.auth, first.body.generation.id);
    const second = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({ content: 'b' })
      .expect(202);
    await finished(user.auth, second.body.generation.id);
    const refused = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({ content: 'c' });
    expectErrorBody(refused, 429);
    const now = new Date();
    const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
    const retryAfter = Number(refused.headers['retry-after']);
    expect(Math.abs(retryAfter - (midnight - now.getTime()) / 1000)).toBeLessThan(5);
    const usage = await t.http.get('/api/users/me/usage').set(user.auth).expect(200);
    expect(usage.body).toEqual({
      today: { promptTokens: 84, completionTokens: 8, generations: 2 },
      dailyTokenLimit: 60,
    });
    // Deleting the room does not give the tokens back.
    await t.http.delete(`/api/chat-rooms/${room.id}`).set(user.auth).expect(204);
    const other = await createRoom(t.http, user);
    expectErrorBody(
      await t.http
        .post(`/api/chat-rooms/${other.id}/generations`)
        .set(user.auth)
        .send({ content: 'd' }),
      429,
    );
  });

  it('titles a "New chat" room after its first reply, with a title event before done', async () => {
    const user = await registerUser(t.http);
    const room = await createRoom(t.http, user);
    t.fake.title = '"Foxes and   their habits."\n';
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: user.token,
      method: 'POST',
      body: { content: 'Tell me about foxes' },
    });
    await stream.ended;
    expect(stream.events.slice(-2).map((e) => e.event)).toEqual(['title', 'done']);
    expect(stream.events.at(-2)!.data).toEqual({ title: 'Foxes and their habits' });
    const got = await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth).expect(200);
    expect(got.body.title).toBe('Foxes and their habits');
    // Replayed from the stored rows the same way.
    const id = stream.events[0].data.generation.id as string;
    const replay = await openStream(t.base, `/api/generations/${id}/events`, {
      token: user.token,
      lastEventId: 1,
    });
    await replay.ended;
    expect(replay.events.map((e) => [e.id, e.event])).toEqual(
      stream.events.slice(1).map((e) => [e.id, e.event]),
    );
    // The title request was a short, non-streamed one.
    const titleRequest = t.fake.requests.at(-1)!;
    expect(titleRequest.body.stream).toBeFalsy();
    // Only the first reply: the second leaves the title alone.
    t.fake.title = 'Another title';
    const next = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({ content: 'more' })
      .expect(202);
    await finished(user.auth, next.body.generation.id);
    expect((await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth)).body.title).toBe(
      'Foxes and their habits',
    );
  });

  it('cuts a long title to 60 characters; a failed title request leaves "New chat"', async () => {
    const user = await registerUser(t.http);
    const room = await createRoom(t.http, user);
    t.fake.title = 'word '.repeat(30);
    const a = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({ content: 'x' })
      .expect(202);
    await finished(user.auth, a.body.generation.id);
    const title = (await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth)).body
      .title as string;
    expect([...title].length).toBeLessThanOrEqual(60);
    expect(title.startsWith('word word')).toBe(true);

    const failing = await createRoom(t.http, user);
    t.fake.title = null;
    const b = await t.http
      .post(`/api/chat-rooms/${failing.id}/generations`)
      .set(user.auth)
      .send({ content: 'x' })
      .expect(202);
    const done = await finished(user.auth, b.body.generation.id);
    expect(done.status).toBe('complete');
    expect((await t.http.get(`/api/chat-rooms/${failing.id}`).set(user.auth)).body.title).toBe(
      'New chat',
    );
  });
});
