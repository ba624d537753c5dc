import { createRoom, postMessage } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, eventually, startAssistantApp } from '../helpers/assistant';
import { openStream, textOf } from '../helpers/sse-client';

describe('assistant replies (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;

  beforeAll(async () => {
    t = await startAssistantApp();
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const generation = async (id: string) =>
    (await t.http.get(`/api/generations/${id}`).set(user.auth).expect(200)).body as {
      status: string;
      content: string;
      finishReason: string | null;
      usage: { promptTokens: number; completionTokens: number } | null;
      error: { code: string; message: string } | null;
    };

  it('GET /api/models lists the configured models, the default marked', async () => {
    const res = await t.http.get('/api/models').set(user.auth).expect(200);
    expect(res.body).toEqual({
      items: [
        { id: 'fake-model', default: true },
        { id: 'other-model', default: false },
      ],
    });
  });

  it('streams a reply that equals the stored message, with ids 1..n and done last', async () => {
    const room = await createRoom(t.http, user, 'Streaming');
    t.fake.enqueue({ tokens: ['The ', 'quick ', 'brown ', 'fox'], paceMs: 5 });
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: user.token,
      method: 'POST',
      body: { content: 'Tell me about foxes' },
    });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    await stream.ended;
    const names = stream.events.map((e) => e.event);
    expect(names).toEqual(['start', 'delta', 'delta', 'delta', 'delta', 'done']);
    expect(stream.events.map((e) => e.id)).toEqual([1, 2, 3, 4, 5, 6]);
    const start = stream.events[0].data;
    expect(start.userMessage.content).toBe('Tell me about foxes');
    expect(start.assistantMessage).toMatchObject({ content: '', status: 'streaming', model: 'fake-model' });
    const done = stream.events.at(-1)!.data;
    expect(done.message.content).toBe('The quick brown fox');
    expect(done.generation).toMatchObject({ status: 'complete', finishReason: 'stop', error: null });
    expect(done.generation.usage).toEqual({ promptTokens: 42, completionTokens: 4 });
    expect(textOf(stream.events)).toBe('The quick brown fox');

    const stored = await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth).expect(200);
    const reply = stored.body.messages.at(-1);
    expect(reply).toMatchObject({
      role: 'assistant',
      content: 'The quick brown fox',
      status: 'complete',
      model: 'fake-model',
      generationId: done.generation.id,
    });
    expect((await generation(done.generation.id)).content).toBe('The quick brown fox');
  });

  it('JSON start: 202 with Location, both messages stored; the events replay to done', async () => {
    const room = await createRoom(t.http, user);
    await postMessage(t.http, user, room.id, 'first question');
    const res = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(user.auth)
      .send({})
      .expect(202);
    expect(res.headers.location).toBe(`/api/generations/${res.body.generation.id}/events`);
    expect(res.body.userMessage).toBeNull();
    expect(res.body.assistantMessage).toMatchObject({ status: 'streaming', content: '' });
    const id = res.body.generation.id as string;
    await eventually(async () => (await generation(id)).status === 'complete');
    const stream = await openStream(t.base, `/api/generations/${id}/events`, { token: user.token });
    await stream.ended;
    expect(stream.events.map((e) => e.event)).toEqual(['start', 'delta', 'delta', 'delta', 'delta', 'done']);
    expect(textOf(stream.events)).toBe('Hello, world!');
  });
});
