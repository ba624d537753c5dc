import type { AddressInfo } from 'node:net';
import { connect, Socket } from 'node:net';
import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { openStream } from '../helpers/sse-client';

jest.setTimeout(60_000);

/** Far beyond the timeouts under test (1.5 s, checked every 100 ms): the answer is bounded. */
const BOUND_MS = 10_000;

interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves when the server closed the connection; rejects after BOUND_MS. */
  closed: Promise<string>;
}

/** Every raw connection, destroyed before the app closes (which waits for them). */
const sockets = new Set<Socket>();
afterEach(() => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
});

/** A raw TCP connection to the app, so a test can send half a request and stall. */
function open(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    sockets.add(socket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    // The server closing first can reset the connection: that is a close too.
    socket.on('error', () => undefined);
    const closed = new Promise<string>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`still open after ${BOUND_MS} ms`)), BOUND_MS);
      socket.on('close', () => {
        clearTimeout(timer);
        done(text);
      });
    });
    closed.catch(() => undefined);
    socket.once('connect', () => resolve({ socket, received: () => text, closed }));
    socket.once('error', reject);
  });
}

/** Headers announcing 100 bytes of JSON, and 10 of them. */
const STALLED_POST =
  'POST /api/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n' +
  'Content-Length: 100\r\n\r\n{"email":"';

function expect408(text: string): void {
  const [head, body] = text.split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 408 /);
  expect(head.toLowerCase()).toContain('connection: close');
  expect(JSON.parse(body)).toEqual({
    statusCode: 408,
    error: 'Request Timeout',
    message: expect.any(String),
  });
}

/** Sends one keep-alive request and waits for its whole response. */
function exchange(connection: RawConnection, path: string): Promise<string> {
  const start = connection.received().length;
  connection.socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  return eventually(() => {
    const text = connection.received().slice(start);
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return Promise.resolve(undefined);
    const length = Number(/content-length: (\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
    return Promise.resolve(text.length >= end + 4 + length && text);
  }, BOUND_MS);
}

describe('HTTP request timeout (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;
  let port: number;

  beforeAll(async () => {
    t = await startAssistantApp({
      HTTP_REQUEST_TIMEOUT_MS: '1500',
      HTTP_HEADERS_TIMEOUT_MS: '1000',
    });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  it('answers a POST whose body stalls with 408 in the error shape and closes it', async () => {
    const connection = await open(port);
    connection.socket.write(STALLED_POST);
    expect408(await connection.closed);
  });

  it('closes every one of 50 stalled requests', async () => {
    const connections = await Promise.all(Array.from({ length: 50 }, () => open(port)));
    for (const connection of connections) connection.socket.write(STALLED_POST);
    const answers = await Promise.all(connections.map((connection) => connection.closed));
    for (const text of answers) expect408(text);
  });

  it('answers headers that never end with 408 too', async () => {
    const connection = await open(port);
    connection.socket.write('GET /api/health HTTP/1.1\r\nHost: localhost\r\n');
    expect408(await connection.closed);
  });

  it('does not cut an event stream that outlasts the request timeout, silences included', async () => {
    const room = await createRoom(t.http, user, 'Long reply');
    // 4 tokens 1.8 s apart: a 7 s stream, quiet for longer than the timeout between tokens.
    t.fake.enqueue({ tokens: ['a ', 'b ', 'c ', 'd'], paceMs: 1800 });
    const stream = await openStream(t.base, `/api/chat-rooms/${room.id}/generations`, {
      token: user.token,
      method: 'POST',
      body: { content: 'Take your time' },
    });
    expect(stream.status).toBe(200);
    await stream.waitFor(1);
    const generationId = stream.events[0].data.generation.id as string;
    // A second stream of the same running reply, opened while it runs.
    const follower = await openStream(t.base, `/api/generations/${generationId}/events`, {
      token: user.token,
    });
    await Promise.all([stream.ended, follower.ended]);
    for (const events of [stream.events, follower.events]) {
      expect(events.at(-1)?.event).toBe('done');
      expect(events.at(-1)?.data.message.content).toBe('a b c d');
    }
  });
});

describe('HTTP_MAX_CONNECTIONS (e2e)', () => {
  let t: TestApp;
  let port: number;

  beforeAll(async () => {
    t = await startTestApp({ HTTP_MAX_CONNECTIONS: '20' });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    port = (t.app.getHttpServer().address() as AddressInfo).port;
  });
  afterAll(() => t.close());

  it('closes the 21st concurrent connection while the 20 others still work', async () => {
    const held: RawConnection[] = [];
    for (let i = 0; i < 20; i++) {
      const connection = await open(port);
      expect(await exchange(connection, '/api/health')).toMatch(/^HTTP\/1\.1 200 /);
      held.push(connection);
    }

    const extra = await open(port);
    extra.socket.write('GET /api/health HTTP/1.1\r\nHost: localhost\r\n\r\n');
    expect(await extra.closed).toBe('');

    for (const connection of held) {
      expect(await exchange(connection, '/api/health')).toMatch(/^HTTP\/1\.1 200 /);
    }

    // One closes: a new connection takes its place.
    held.pop()!.socket.destroy();
    const answer = await eventually(async () => {
      const next = await open(port);
      next.socket.write('GET /api/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      return (await next.closed) || undefined;
    }, BOUND_MS);
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  });
});
