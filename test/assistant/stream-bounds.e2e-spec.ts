import { connect, Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AddressInfo } from 'node:net';
import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { login } from '../helpers/sessions';
import { openStream, SseResponse, textOf } from '../helpers/sse-client';

jest.setTimeout(120_000);

// A full garbage collection on demand: what the app holds, not the garbage not yet collected.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const CAPS = { EVENT_STREAMS_PER_SESSION: '3', EVENT_STREAMS_PER_USER: '5' };
/** A reply that runs for the whole test, unless cancelled. */
const LONG = { tokens: Array.from({ length: 2000 }, () => 'x'), paceMs: 20 };

interface Caller {
  token: string;
  auth: { Authorization: string };
}

/** Starts a reply (JSON) and answers its generation id. */
async function startReply(t: AssistantTestApp, user: RegisteredUser): Promise<string> {
  const room = await createRoom(t.http, user);
  const res = await t.http
    .post(`/api/chat-rooms/${room.id}/generations`)
    .set(user.auth)
    .send({ content: 'go' })
    .expect(202);
  return res.body.generation.id as string;
}

const eventsPath = (id: string) => `/api/generations/${id}/events`;

/** The 429 of a stream past a cap: the error body and a Retry-After of a few seconds. */
async function expectRefused(t: AssistantTestApp, id: string, who: Caller): Promise<void> {
  const res = await t.http.get(eventsPath(id)).set(who.auth).set('Accept', 'text/event-stream');
  expectErrorBody(res, 429);
  const retryAfter = Number(res.headers['retry-after']);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(10);
}

async function expectOpen(base: string, id: string, who: Caller): Promise<SseResponse> {
  const stream = await openStream(base, eventsPath(id), { token: who.token });
  expect(stream.status).toBe(200);
  await stream.waitFor(1);
  return stream;
}

describe('caps on open event streams (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;
  const streams: SseResponse[] = [];

  beforeAll(async () => {
    t = await startAssistantApp(CAPS);
    user = await registerUser(t.http);
  });
  afterEach(() => {
    for (const stream of streams.splice(0)) stream.close();
  });
  afterAll(() => t.close());

  it('refuses the stream past the session’s cap and the user’s, and counts a closed one out', async () => {
    t.fake.enqueue(LONG);
    const id = await startReply(t, user);
    for (let i = 0; i < 3; i++) streams.push(await expectOpen(t.base, id, user));
    await expectRefused(t, id, user);

    // Another session of the same user still opens, up to the user's cap (5).
    const second = await login(t.http, user.email, user.password);
    for (let i = 0; i < 2; i++) streams.push(await expectOpen(t.base, id, second));
    await expectRefused(t, id, second);

    // A start asking for its stream is refused before anything is started.
    const room = await createRoom(t.http, user);
    const before = t.fake.streamed().length;
    const refused = await t.http
      .post(`/api/chat-rooms/${room.id}/generations`)
      .set(second.auth)
      .set('Accept', 'text/event-stream')
      .send({ content: 'refused' });
    expectErrorBody(refused, 429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const stored = await t.db.query('SELECT 1 FROM generations WHERE chat_room_id = $1', [room.id]);
    expect(stored.rowCount).toBe(0);
    expect(t.fake.streamed().length).toBe(before);

    // Closing a stream gives its place back.
    streams[0].close();
    await streams[0].ended;
    const again = await eventually(async () => {
      const stream = await openStream(t.base, eventsPath(id), { token: second.token });
      if (stream.status === 200) return stream;
      stream.close();
      return undefined;
    });
    streams.push(again);
    await again.waitFor(1);
    expect(again.events[0].event).toBe('start');

    // Every stream closes with its reply; the cancel is not one of them.
    await t.http.post(`/api/generations/${id}/cancel`).set(user.auth).expect(200);
    await Promise.all(streams.slice(1).map((stream) => stream.ended));
    await eventually(async () => {
      const { rows } = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM event_streams WHERE user_id = $1',
        [user.id],
      );
      return rows[0].n === 0;
    });
  });

  it('holds across two instances on one database', async () => {
    const b = await startAssistantApp(CAPS, { databaseUrl: t.databaseUrl });
    try {
      const caller = await registerUser(t.http);
      t.fake.enqueue(LONG);
      const id = await startReply(t, caller);
      streams.push(await expectOpen(t.base, id, caller));
      streams.push(await expectOpen(b.base, id, caller));
      streams.push(await expectOpen(b.base, id, caller));
      await expectRefused(b, id, caller);
      await expectRefused(t, id, caller);
      // One closed on B: A may open one again.
      streams[1].close();
      const again = await eventually(async () => {
        const stream = await openStream(t.base, eventsPath(id), { token: caller.token });
        if (stream.status === 200) return stream;
        stream.close();
        return undefined;
      });
      streams.push(again);
      await expectRefused(b, id, caller);
      await t.http.post(`/api/generations/${id}/cancel`).set(caller.auth).expect(200);
    } finally {
      for (const stream of streams.splice(0)) stream.close();
      await b.close();
    }
  });
});

describe('event streams whose client does not read (e2e)', () => {
  const MAX_QUEUED = 64 * 1024;
  let t: AssistantTestApp;
  let user: RegisteredUser;
  /** The server's side of every connection made to the app. */
  const serverSockets = new Set<Socket>();

  beforeAll(async () => {
    t = await startAssistantApp({
      EVENT_STREAM_QUEUE_BYTES: String(MAX_QUEUED),
      EVENT_STREAM_STALL_MS: '3000',
      EVENT_STREAMS_PER_USER: '100',
      EVENT_STREAMS_PER_SESSION: '100',
      // Replies of several MB, past what the kernel's socket buffers take.
      LLM_REPLY_MAX_CHARS: '10000000',
    });
    user = await registerUser(t.http);
    t.app.getHttpServer().on('connection', (socket: Socket) => {
      serverSockets.add(socket);
      socket.on('close', () => serverSockets.delete(socket));
    });
  });
  afterAll(() => t.close());

  /** A raw connection asking for the stream, which never reads what it is sent. */
  const unread = (id: string): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const { port } = t.app.getHttpServer().address() as AddressInfo;
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(
          `GET ${eventsPath(id)} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
            `Authorization: Bearer ${user.token}\r\nAccept: text/event-stream\r\n\r\n`,
        );
        resolve(socket);
      });
      socket.pause();
      socket.on('error', reject);
    });
  const queuedOnServer = () =>
    [...serverSockets].reduce((sum, socket) => sum + socket.writableLength, 0);

  it('a replay is written only as the client reads: unread streams are closed, memory stays bounded', async () => {
    // A finished reply of 8 MB (4,000 deltas of 2,000 characters): its deltas are more than
    // the kernel's buffers of a connection take, so an unread stream never gets to its `done`
    // (which carries the whole text again).
    const tokens = Array.from({ length: 4000 }, (_, i) => `${i % 10}`.repeat(2000));
    t.fake.enqueue({ tokens });
    const id = await startReply(t, user);
    await eventually(async () => {
      const res = await t.http.get(`/api/generations/${id}`).set(user.auth).expect(200);
      return res.body.status === 'complete';
    }, 60_000);

    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const clients = await Promise.all(Array.from({ length: 30 }, () => unread(id)));
    // While they wait (the stall timeout is 3 s): what the server holds for them, once it has
    // filled every one's socket (it queues what the kernel does not take) and waits for a
    // 'drain' that does not come.
    const filled = new Set<Socket>();
    await eventually(
      () => {
        for (const socket of serverSockets) if (socket.writableLength > 0) filled.add(socket);
        return filled.size >= clients.length;
      },
      { intervalMs: 10, message: 'every unread stream filled' },
    );
    gc();
    const heapHeld = process.memoryUsage().heapUsed - heapBefore;
    // 30 streams hold at most about a socket's high-water mark and an event each; without
    // back-pressure each would queue its whole replay (30 × 8 MB). The heap figure moves with
    // when V8 collects (under 32 MB on a quiet machine, 38 to 49 MB measured on a loaded one):
    // the bound is well under the unbounded 240 MB, not at the quiet machine's figure.
    expect(queuedOnServer()).toBeLessThan(30 * MAX_QUEUED);
    expect(heapHeld).toBeLessThan(64 * 1024 * 1024);
    // Then the server closes them.
    let maxQueued = 0;
    await eventually(() => {
      maxQueued = Math.max(maxQueued, queuedOnServer());
      return Promise.resolve(serverSockets.size === 0);
    }, 30_000);
    expect(maxQueued).toBeLessThan(30 * MAX_QUEUED);

    // A client that reads gets every event, written as it takes them.
    const reader = await openStream(t.base, eventsPath(id), { token: user.token });
    await reader.ended;
    expect(reader.events.at(-1)!.event).toBe('done');
    expect(textOf(reader.events)).toBe(tokens.join(''));

    // The server closed them, before `done`.
    const received = await Promise.all(
      clients.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let text = '';
            socket.setEncoding('utf8');
            socket.on('data', (chunk: string) => (text += chunk));
            socket.on('error', () => undefined);
            socket.on('close', () => resolve(text));
            socket.resume();
          }),
      ),
    );
    for (const text of received) {
      expect(text).toMatch(/^HTTP\/1\.1 200/);
      expect(text).not.toContain('event: done');
    }
    // Their slots are given back.
    await eventually(async () => {
      const { rows } = await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM event_streams WHERE user_id = $1',
        [user.id],
      );
      return rows[0].n === 0;
    });
  });

  it('a live stream that piles up past the bound is closed; its reply goes on to the end', async () => {
    // 8 MB: more than the kernel's socket buffers take.
    const tokens = Array.from({ length: 400 }, (_, i) => `${i % 10}`.repeat(20_000));
    t.fake.enqueue({ tokens, paceMs: 2 });
    const id = await startReply(t, user);
    const client = await unread(id);
    let text = '';
    client.setEncoding('utf8');
    const closed = new Promise<void>((resolve) => client.on('close', () => resolve()));
    await eventually(() => Promise.resolve(serverSockets.size === 0), 30_000);
    const res = await eventually(async () => {
      const g = await t.http.get(`/api/generations/${id}`).set(user.auth).expect(200);
      return g.body.status !== 'streaming' && g;
    }, 60_000);
    expect(res.body.status).toBe('complete');
    expect(res.body.content).toBe(tokens.join(''));
    client.on('data', (chunk: string) => (text += chunk));
    client.on('error', () => undefined);
    client.resume();
    await closed;
    expect(text).not.toContain('event: done');
  });
});
