/**
 * The benchmark scenarios: what each one requests, with which tokens and bodies. Shared by the
 * harness (sanity and parity checks send the very first request of a scenario) and by the load
 * worker (autocannon sends the rest), so both see the same requests.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { corpus, logUniform, prng, Random, textOfLength } from './random';

export const SCENARIO_NAMES = [
  'login',
  'me',
  'list-rooms',
  'list-rooms-messages',
  'get-room-100',
  'get-room-1000',
  'page-messages',
  'create-room',
  'post-message',
  'post-message-key',
  'refresh',
] as const;
/**
 * GET /api/search, run only by `npm run bench -- --search` (bench/search.ts): it needs a data
 * set of its own (a million messages and more) and has no floor counterpart.
 */
export const SEARCH_SCENARIO_NAMES = [
  'search-rare',
  'search-common',
  'search-korean-2',
  'search-korean-2-absent',
  'search-phrase',
] as const;
export type SearchScenarioName = (typeof SEARCH_SCENARIO_NAMES)[number];
export type ScenarioName = (typeof SCENARIO_NAMES)[number] | SearchScenarioName;

export interface Scenario {
  name: ScenarioName;
  title: string;
  /** HTTP status every request must get. */
  expectedStatus: number;
  /**
   * How app and floor responses to the same request must match: `exact` (same JSON, key order
   * aside) for reads of seeded data; `shape` (same keys and value types) for writes, whose ids
   * and timestamps differ; login tokens differ only by `iat`/`exp`.
   */
  parity: 'exact' | 'shape';
  /**
   * Each connection has a session of its own: it signs in on the server under test before the
   * run, sends the refresh cookie it holds, and keeps the one every answer sets.
   */
  session?: true;
}

export const SCENARIOS: Record<ScenarioName, Scenario> = {
  login: {
    name: 'login',
    title: 'POST /api/auth/login (argon2id verify)',
    expectedStatus: 200,
    parity: 'shape',
  },
  me: { name: 'me', title: 'GET /api/users/me (auth only)', expectedStatus: 200, parity: 'exact' },
  'list-rooms': {
    name: 'list-rooms',
    title: 'GET /api/chat-rooms?limit=20',
    expectedStatus: 200,
    parity: 'exact',
  },
  'list-rooms-messages': {
    name: 'list-rooms-messages',
    title: 'GET /api/chat-rooms?limit=20&include=messages',
    expectedStatus: 200,
    parity: 'exact',
  },
  'get-room-100': {
    name: 'get-room-100',
    title: 'GET /api/chat-rooms/:id (100 messages)',
    expectedStatus: 200,
    parity: 'exact',
  },
  'get-room-1000': {
    name: 'get-room-1000',
    title: 'GET /api/chat-rooms/:id (1,000 messages)',
    expectedStatus: 200,
    parity: 'exact',
  },
  'page-messages': {
    name: 'page-messages',
    title: 'GET /api/chat-rooms/:id/messages?limit=50&before=…',
    expectedStatus: 200,
    parity: 'exact',
  },
  'create-room': {
    name: 'create-room',
    title: 'POST /api/chat-rooms',
    expectedStatus: 201,
    parity: 'shape',
  },
  'post-message': {
    name: 'post-message',
    title: 'POST /api/chat-rooms/:id/messages',
    expectedStatus: 201,
    parity: 'shape',
  },
  'post-message-key': {
    name: 'post-message-key',
    title: 'POST /api/chat-rooms/:id/messages with a new Idempotency-Key (the floor ignores it)',
    expectedStatus: 201,
    parity: 'shape',
  },
  refresh: {
    name: 'refresh',
    title: 'POST /api/auth/refresh (the refresh cookie rotates on every request)',
    expectedStatus: 200,
    parity: 'shape',
    session: true,
  },
  ...(Object.fromEntries(
    SEARCH_SCENARIO_NAMES.map((name) => [
      name,
      { name, title: `GET /api/search (${name})`, expectedStatus: 200, parity: 'exact' },
    ]),
  ) as Record<SearchScenarioName, Scenario>),
};

/** A seeded user whose token reads: exactly 20 rooms, among them one of 100 and one of 1,000 messages. */
export interface Reader {
  token: string;
  room100: string;
  room1000: string;
  /** Messages of room1000 with at least 50 older ones: `before` cursors that give full pages. */
  cursors: string[];
}

/** A seeded user whose token writes (new rooms, new messages): never one of the readers. */
export interface Writer {
  token: string;
  rooms: string[];
}

export interface Credentials {
  email: string;
  password: string;
}

export interface ScenarioData {
  readers: Reader[];
  writers: Writer[];
  logins: Credentials[];
  /** Size range of posted message contents. */
  minChars: number;
  maxChars: number;
  /** Search scenarios only: the searching users and the `q` of each scenario. */
  searchers?: string[];
  searchQueries?: Partial<Record<SearchScenarioName, string>>;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The origin the cookie routes are called from: in both servers' CORS_ORIGINS. */
export const BENCH_ORIGIN = 'http://localhost';
const REFRESH_COOKIE = 'refresh_token';

/** A connection's session: the refresh token it holds, replaced by every answer's. */
export interface SessionCookie {
  token: string;
}

/** The refresh token a response's Set-Cookie header(s) carry, if any. */
export function refreshTokenOf(setCookie: string | string[] | undefined): string | undefined {
  for (const cookie of typeof setCookie === 'string' ? [setCookie] : (setCookie ?? [])) {
    const end = cookie.indexOf(';');
    const value = end === -1 ? cookie : cookie.slice(0, end);
    if (value.startsWith(`${REFRESH_COOKIE}=`)) return value.slice(REFRESH_COOKIE.length + 1);
  }
  return undefined;
}

/**
 * Signs in through `POST /api/auth/login`: a new session, and its refresh cookie. On a connection
 * of its own (`agent: false`): a kept-alive one can be closed by the server's idle timeout just
 * as the POST goes out, and no client retries a POST.
 */
export function signIn(baseUrl: string, who: Credentials): Promise<SessionCookie> {
  const body = JSON.stringify(who);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}/api/auth/login`,
      {
        method: 'POST',
        agent: false,
        timeout: 30_000,
        headers: { ...JSON_HEADERS, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          const token = refreshTokenOf(res.headers['set-cookie']);
          if (res.statusCode === 200 && token) resolve({ token });
          else
            reject(new Error(`sign-in at ${baseUrl}: HTTP ${res.statusCode}, no refresh cookie`));
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`sign-in at ${baseUrl}: timed out`)));
    req.end(body);
  });
}

/** One session per connection, connection `i` signed in as `data.logins[i]` (round-robin). */
export function openSessions(
  baseUrl: string,
  data: ScenarioData,
  connections: number,
): Promise<SessionCookie[]> {
  return Promise.all(
    Array.from({ length: connections }, (_, i) =>
      signIn(baseUrl, data.logins[i % data.logins.length]),
    ),
  );
}

/**
 * A generator of requests for one load-generator connection (`client`). Connections are spread
 * round-robin over the users, so with 32 connections and 16 readers every reader's token is
 * used by two connections; bodies and cursors vary per request, deterministically from `seed`.
 * `session` is the connection's own session, for the scenarios that need one.
 */
export function requestGenerator(
  name: ScenarioName,
  data: ScenarioData,
  client: number,
  seed: number,
  session?: SessionCookie,
): () => HttpRequest {
  const random: Random = prng(seed * 7919 + client);
  const reader = data.readers[client % data.readers.length];
  const writer = data.writers[client % data.writers.length];
  let n = 0;

  switch (name) {
    case 'search-rare':
    case 'search-common':
    case 'search-korean-2':
    case 'search-korean-2-absent':
    case 'search-phrase': {
      const searchers = data.searchers ?? [];
      const token = searchers[client % searchers.length];
      const q = encodeURIComponent(data.searchQueries?.[name] ?? '');
      return () => ({ method: 'GET', path: `/api/search?q=${q}&limit=20`, headers: bearer(token) });
    }
    case 'login': {
      // Every request logs in as another user (connections start at different offsets).
      return () => {
        const who = data.logins[(client + n++ * 7) % data.logins.length];
        return {
          method: 'POST',
          path: '/api/auth/login',
          headers: JSON_HEADERS,
          body: JSON.stringify(who),
        };
      };
    }
    case 'refresh': {
      if (!session) throw new Error('the refresh scenario needs a session per connection');
      return () => ({
        method: 'POST',
        path: '/api/auth/refresh',
        headers: { origin: BENCH_ORIGIN, cookie: `${REFRESH_COOKIE}=${session.token}` },
      });
    }
    case 'me':
      return () => ({ method: 'GET', path: '/api/users/me', headers: bearer(reader.token) });
    case 'list-rooms':
      return () => ({
        method: 'GET',
        path: '/api/chat-rooms?limit=20',
        headers: bearer(reader.token),
      });
    case 'list-rooms-messages':
      return () => ({
        method: 'GET',
        path: '/api/chat-rooms?limit=20&include=messages',
        headers: bearer(reader.token),
      });
    case 'get-room-100':
      return () => ({
        method: 'GET',
        path: `/api/chat-rooms/${reader.room100}`,
        headers: bearer(reader.token),
      });
    case 'get-room-1000':
      return () => ({
        method: 'GET',
        path: `/api/chat-rooms/${reader.room1000}`,
        headers: bearer(reader.token),
      });
    case 'page-messages':
      return () => {
        const cursor = reader.cursors[n++ % reader.cursors.length];
        return {
          method: 'GET',
          path: `/api/chat-rooms/${reader.room1000}/messages?limit=50&before=${cursor}`,
          headers: bearer(reader.token),
        };
      };
    case 'create-room':
      return () => ({
        method: 'POST',
        path: '/api/chat-rooms',
        headers: { ...JSON_HEADERS, ...bearer(writer.token) },
        body: JSON.stringify({ title: `Bench room ${client}-${n++}` }),
      });
    case 'post-message':
    case 'post-message-key': {
      // A pool of realistic contents (log-uniform sizes) per connection, cycled through.
      const source = corpus(random, 64 * 1024);
      const bodies = Array.from({ length: 64 }, () =>
        JSON.stringify({
          content: textOfLength(random, source, logUniform(random, data.minChars, data.maxChars)),
          role: 'user',
        }),
      );
      // Every request a first one, as nearly all are (retries are rare): a key never sent before.
      const keyPrefix = randomUUID();
      return () => {
        const i = n++;
        const headers: Record<string, string> = { ...JSON_HEADERS, ...bearer(writer.token) };
        if (name === 'post-message-key') headers['idempotency-key'] = `${keyPrefix}-${i}`;
        return {
          method: 'POST',
          path: `/api/chat-rooms/${writer.rooms[i % writer.rooms.length]}/messages`,
          headers,
          body: bodies[i % bodies.length],
        };
      };
    }
  }
}
