import fc from 'fast-check';
import type { Response } from 'supertest';
import { createRoom, postMessage } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';

/**
 * Property: whatever a client sends to any route, authenticated or not, the answer is below
 * 500, every 4xx has the contract's error body with no more than a short excerpt of the input,
 * and a rejected request changed nothing. Input the contract refuses (a JSON body that is not an
 * object, an unknown field or query parameter whatever its name, a malformed id of any length)
 * is never taken.
 * Cases it found are kept as plain tests in http-hardening.e2e-spec.ts.
 */

const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  'x\udfffy',
  '😀',
  '\u202e\u0000',
  'é'.normalize('NFD'),
  "'; DROP TABLE users; --",
  '" OR 1=1 --',
  '%00',
  '%',
  '%ZZ',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  '1e400',
  '-0',
  '9007199254740993',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  'x'.repeat(300),
];

const weirdString = fc.oneof(
  fc.constantFrom(...NASTY_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ maxLength: 20 }),
);

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  weirdString,
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.MAX_SAFE_INTEGER + 2, -1, 0, 1e308, true, false, null),
  fc.array(weirdString, { maxLength: 3 }),
  fc.dictionary(weirdString, weirdString, { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 3 }),
);

const FIELDS = [
  'title',
  'content',
  'role',
  'email',
  'password',
  'displayName',
  'currentPassword',
  'newPassword',
  'model',
  'systemPrompt',
];
/**
 * Names the runtime treats specially: every object inherits them (`constructor`, `toString`,
 * `hasOwnProperty`, `__proto__`, `__defineGetter__`…), and `prototype`. A DTO must not take
 * one of them for a field it declares.
 */
const SPECIAL_NAMES = [...Object.getOwnPropertyNames(Object.prototype), 'prototype'];
const bodyObject = fc.dictionary(
  fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom(...SPECIAL_NAMES), weirdString),
  weirdValue,
  { maxKeys: 4 },
);
/** JSON that is valid but not an object: every body of this API is one. */
const nonObjectJson = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e21, '', 'text', []),
  fc
    .jsonValue({ maxDepth: 2 })
    .filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
  fc.array(bodyObject, { minLength: 1, maxLength: 2 }),
);

const RAW_BODIES = [
  '{',
  '{"title":',
  '{"__proto__":{"isAdmin":true}}',
  '{"constructor":{"prototype":{"isAdmin":true}}}',
  'null',
  '[]',
  '"string"',
  '1e400',
  '{"content":"\\ud800"}',
  '{"content":"\\u0000"}',
  `{"title":${'['.repeat(5000)}${']'.repeat(5000)}}`,
  '\u0000',
  `{"content":"${'x'.repeat(300 * 1024)}"}`, // over the 256 KiB body limit
];

interface Body {
  contentType: string | undefined;
  payload: string | undefined;
}

interface Route {
  method: string;
  path: string;
  /** The id in the path, as sent (percent-encoded). */
  id?: string;
  /** The body fields the route declares; undefined: it takes no body. */
  fields?: readonly string[];
  /** The query parameters the route declares. */
  params?: readonly string[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why the contract says a request must be refused with 4xx, if it does. */
function mustBeRefused(r: Route, q: string, b: Body): string | undefined {
  if (r.fields && b.contentType === 'application/json' && b.payload !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(b.payload);
    } catch {
      return 'malformed JSON';
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return 'a JSON body that is not an object';
    }
    const unknown = Object.keys(parsed).find((k) => !r.fields!.includes(k));
    if (unknown !== undefined) return `the unknown field ${JSON.stringify(unknown)}`;
  }
  if (r.params && q) {
    const names = q.split('&').map((pair) => {
      try {
        return decodeURIComponent(pair.split('=')[0]);
      } catch {
        return undefined;
      }
    });
    const unknown = names.find((n) => n !== undefined && n !== '' && !r.params!.includes(n));
    if (unknown !== undefined) return `the unknown query parameter ${JSON.stringify(unknown)}`;
  }
  return undefined;
}

/** Whether a path id is malformed, and plainly so: not empty, not a path segment like `..`. */
function malformedId(id: string | undefined): boolean {
  if (id === undefined) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(id);
  } catch {
    return true;
  }
  return !UUID.test(decoded) && !['', '.', '..'].includes(decoded) && !decoded.includes('/');
}
const body: fc.Arbitrary<Body> = fc.oneof(
  bodyObject.map((o) => ({ contentType: 'application/json', payload: JSON.stringify(o) })),
  nonObjectJson.map((v) => ({ contentType: 'application/json', payload: JSON.stringify(v) })),
  fc.constantFrom(...RAW_BODIES).map((payload) => ({ contentType: 'application/json', payload })),
  fc.record({
    contentType: fc.constantFrom(
      'application/json',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
      'application/octet-stream',
    ),
    payload: fc.oneof(
      weirdString,
      bodyObject.map((o) => JSON.stringify(o)),
    ),
  }),
  fc.constant({ contentType: undefined, payload: undefined }),
);

/** Percent-encodes anything, lone surrogates included (as the bytes of U+FFFD). */
const encode = (s: string) => encodeURIComponent(s.toWellFormed());
/** Header values can only carry visible ASCII here; the client library refuses the rest. */
const headerSafe = (s: string) => s.replace(/[^\x20-\x7e]/g, '');

const query = fc
  .dictionary(
    fc.oneof(
      fc.constantFrom('limit', 'offset', 'include', 'before', 'after', 'q', 'cursor'),
      fc.constantFrom(...SPECIAL_NAMES),
      weirdString,
    ),
    fc.oneof(weirdString, fc.integer().map(String), fc.constant('messages')),
    { maxKeys: 3 },
  )
  .map((entries) =>
    Object.entries(entries)
      .map(([k, v]) => `${encode(k)}=${encode(v)}`)
      .join('&'),
  )
  .chain((q) =>
    fc.oneof(
      fc.constant(q),
      // Already-encoded nasties: invalid UTF-8, a lone surrogate's bytes, a NUL, a bad escape.
      fc
        .constantFrom(
          'limit=%ED%A0%80',
          'before=%00',
          'after=%C0%AF',
          'offset=%',
          'limit[]=1',
          'a=%ZZ',
        )
        .map((nasty) => (q ? `${q}&${nasty}` : nasty)),
    ),
  );

jest.setTimeout(120_000);

describe('hostile input, property-based (e2e)', () => {
  let t: AssistantTestApp;
  let owner: RegisteredUser;
  let other: RegisteredUser;
  let ownRoom: string;
  let othersRoom: string;
  let ownMessage: string;
  let othersRoomBefore: unknown;
  let ownGeneration: string;
  let othersGeneration: string;

  const snapshot = async () =>
    (
      await t.db.query<{ s: string }>(
        `SELECT concat_ws('|',
           (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY u.id), '')) FROM users u),
           (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM chat_rooms r),
           (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY m.id), '')) FROM messages m),
           (SELECT md5(coalesce(string_agg(s::text, ',' ORDER BY s.id), '')) FROM sessions s),
           (SELECT md5(coalesce(string_agg(g::text, ',' ORDER BY g.id), '')) FROM generations g),
           (SELECT md5(coalesce(string_agg(k::text, ',' ORDER BY k.user_id, k.key), ''))
            FROM idempotency_keys k)) AS s`,
      )
    ).rows[0].s;

  beforeAll(async () => {
    // A model is configured (a fake one): the assistant routes answer, not 503.
    t = await startAssistantApp();
    owner = await registerUser(t.http);
    other = await registerUser(t.http);
    ownRoom = (await createRoom(t.http, owner)).id;
    othersRoom = (await createRoom(t.http, other)).id;
    ownMessage = (await postMessage(t.http, owner, ownRoom, 'hello')).id;
    await postMessage(t.http, other, othersRoom, 'private');
    ownGeneration = (
      await t.http
        .post(`/api/chat-rooms/${ownRoom}/generations`)
        .set(owner.auth)
        .send({})
        .expect(202)
    ).body.generation.id;
    othersGeneration = (
      await t.http
        .post(`/api/chat-rooms/${othersRoom}/generations`)
        .set(other.auth)
        .send({})
        .expect(202)
    ).body.generation.id;
    await settled();
    othersRoomBefore = (await t.http.get(`/api/chat-rooms/${othersRoom}`).set(other.auth)).body;
  });
  afterAll(() => t.close());

  const settled = () =>
    eventually(async () => {
      const { rows } = await t.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM generations WHERE status = 'streaming'`,
      );
      return rows[0].n === 0;
    });

  const pathId = () =>
    fc.oneof(
      fc.constantFrom(
        ownRoom,
        othersRoom,
        ownMessage,
        other.sessionId,
        ownGeneration,
        othersGeneration,
        '00000000-0000-4000-8000-000000000000',
      ),
      weirdString.map(encode),
      fc.constantFrom('%', '%ZZ', '..', '%2e%2e', 'a'.repeat(500)),
      // Malformed ids of any length, far past Fastify's default parameter limit of 100.
      fc
        .tuple(
          fc.constantFrom('a', '0', '-', 'é', '%00', ownRoom),
          fc.integer({ min: 37, max: 6000 }),
        )
        .map(([unit, length]) =>
          encode(unit)
            .repeat(Math.ceil(length / unit.length))
            .slice(0, length),
        ),
    );
  // What each route accepts: its body fields and query parameters (undefined: takes none).
  const ROOM_QUERY = ['limit', 'offset', 'include', 'q'];
  const MESSAGE_QUERY = ['limit', 'before', 'after'];
  const SEARCH_QUERY = ['q', 'limit', 'cursor'];
  const ROOM_FIELDS = ['title', 'model', 'systemPrompt'];
  const route = (): fc.Arbitrary<Route> =>
    fc.oneof(
      fc.constant({
        method: 'post',
        path: '/api/auth/register',
        fields: ['email', 'password', 'displayName'],
      }),
      fc.constant({ method: 'post', path: '/api/auth/login', fields: ['email', 'password'] }),
      fc.constant({ method: 'get', path: '/api/users/me' }),
      fc.constant({
        method: 'post',
        path: '/api/users/me/password',
        fields: ['currentPassword', 'newPassword'],
      }),
      fc.constant({ method: 'post', path: '/api/auth/refresh' }),
      fc.constant({ method: 'post', path: '/api/auth/logout' }),
      fc.constant({ method: 'get', path: '/api/auth/sessions' }),
      fc.constant({ method: 'delete', path: '/api/auth/sessions' }),
      pathId().map((id) => ({ method: 'delete', path: `/api/auth/sessions/${id}`, id })),
      fc.constant({ method: 'get', path: '/api/health' }),
      fc.constant({ method: 'post', path: '/api/chat-rooms', fields: ROOM_FIELDS }),
      fc.constant({ method: 'get', path: '/api/chat-rooms', params: ROOM_QUERY }),
      fc.constant({ method: 'get', path: '/api/search', params: SEARCH_QUERY }),
      pathId().map((id) => ({ method: 'get', path: `/api/chat-rooms/${id}`, id })),
      pathId().map((id) => ({
        method: 'patch',
        path: `/api/chat-rooms/${id}`,
        id,
        fields: ROOM_FIELDS,
      })),
      pathId().map((id) => ({ method: 'delete', path: `/api/chat-rooms/${id}`, id })),
      pathId().map((id) => ({
        method: 'get',
        path: `/api/chat-rooms/${id}/messages`,
        id,
        params: MESSAGE_QUERY,
      })),
      pathId().map((id) => ({
        method: 'post',
        path: `/api/chat-rooms/${id}/messages`,
        id,
        fields: ['content', 'role'],
      })),
      fc
        .constantFrom('put', 'options', 'head')
        .map((method) => ({ method, path: '/api/chat-rooms' })),
      fc.constant({ method: 'get', path: '/api/models' }),
      fc.constant({ method: 'get', path: '/api/users/me/usage' }),
      pathId().map((id) => ({
        method: 'post',
        path: `/api/chat-rooms/${id}/generations`,
        id,
        fields: ['content', 'model'],
      })),
      pathId().map((id) => ({ method: 'get', path: `/api/generations/${id}`, id })),
      pathId().map((id) => ({ method: 'get', path: `/api/generations/${id}/events`, id })),
      pathId().map((id) => ({ method: 'post', path: `/api/generations/${id}/cancel`, id })),
      pathId().map((id) => ({ method: 'get', path: `/api/chat-rooms/${id}/export`, id })),
      fc.constant({ method: 'get', path: '/api/users/me/export' }),
    );
  const authorization = () =>
    fc.oneof(
      fc.constant(undefined),
      fc.constant('owner'),
      fc.constantFrom('Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic Zm9vOmJhcg==', 'bearer x'),
      weirdString.map((s) => `Bearer ${s}`),
    );

  // Refresh cookies: none, garbage, a forged one of the right shape, another user's spent one.
  const cookie = () =>
    fc.oneof(
      fc.constant(undefined),
      weirdString.map((s) => `refresh_token=${s}`),
      fc.constant(`refresh_token=${other.sessionId}.0.${'A'.repeat(43)}.${'B'.repeat(22)}`),
      fc.constant('refresh_token=a; refresh_token=b'),
    );
  const origin = () =>
    fc.constantFrom(undefined, 'https://evil.example.com', 'null', 'http://127.0.0.1');
  // A few fixed keys, so that runs replay, conflict (422) and reuse them; and hostile ones.
  const idempotencyKey = () =>
    fc.oneof(
      fc.constant(undefined),
      fc.constantFrom('key-1', 'key-2', '', ' ', 'k'.repeat(256), 'a,b', '"quoted"'),
      weirdString,
    );

  async function send(
    r: Route,
    q: string,
    b: Body,
    auth: string | undefined,
    requestId: string,
    extra: { cookie?: string; origin?: string; key?: string } = {},
  ): Promise<Response> {
    const url = q ? `${r.path}?${q}` : r.path;
    let req = t.http[r.method as 'get'](url);
    if (auth === 'owner') req = req.set(owner.auth);
    else if (auth !== undefined) req = req.set('Authorization', headerSafe(auth));
    req = req.set('x-request-id', headerSafe(requestId));
    if (extra.cookie !== undefined) req = req.set('Cookie', headerSafe(extra.cookie));
    if (extra.origin !== undefined) req = req.set('Origin', extra.origin);
    if (extra.key !== undefined) req = req.set('idempotency-key', headerSafe(extra.key));
    if (b.contentType) req = req.set('content-type', b.contentType);
    if (b.payload !== undefined && !['get', 'head', 'delete'].includes(r.method))
      req = req.send(b.payload);
    return req;
  }

  it('never answers 5xx; every 4xx has the contract body; a rejected request changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        route(),
        query,
        body,
        authorization(),
        weirdString,
        cookie(),
        origin(),
        idempotencyKey(),
        async (r, q, b, auth, rid, c, o, key) => {
          const before = await snapshot();
          const res = await send(r, q, b, auth, rid, { cookie: c, origin: o, key });
          expect(res.status).toBeLessThan(500);
          // A reply it started writes on: the next request's snapshot waits for its end.
          await settled();
          if (res.status >= 400 && r.method !== 'head') {
            expectErrorBody(res, res.status);
            expect(await snapshot()).toBe(before);
            // Never more than a short, cut excerpt of what the client sent.
            const message: unknown = res.body.message;
            for (const m of Array.isArray(message) ? message : [message]) {
              expect(Array.from(String(m)).length).toBeLessThanOrEqual(121); // 120 and "…"
            }
          }
          // Bad input is refused, whatever the token: never taken (2xx) or dropped silently.
          const refusal = mustBeRefused(r, q, b);
          if (refusal) expect(`${refusal}: ${res.status}`).toMatch(/: 4\d\d$/);
          // A malformed id of any length is 400 once the caller is known (never 404 or 414).
          if (auth === 'owner' && malformedId(r.id) && ![413, 415].includes(res.status)) {
            expect({ id: r.id?.slice(0, 60), status: res.status }).toEqual({
              id: r.id?.slice(0, 60),
              status: 400,
            });
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  }, 120_000);

  /**
   * The contract's refusals, on requests that are valid in every other way (the owner's token,
   * a body and query the route takes): one flaw is enough for a 400 that changes nothing.
   */
  it('refuses a valid request spoilt by one flaw: non-object JSON, an unknown field or parameter, a malformed id', async () => {
    const validBody = (path: string): Record<string, unknown> =>
      path === '/api/auth/register'
        ? {
            email: `fuzz-${Math.random().toString(36).slice(2)}@example.com`,
            password: 'a password',
          }
        : path === '/api/auth/login'
          ? { email: owner.email, password: owner.password }
          : path.endsWith('/messages')
            ? { content: 'a message', role: 'user' }
            : path.endsWith('/generations')
              ? { content: 'a message' }
              : path === '/api/users/me/password'
                ? { currentPassword: owner.password, newPassword: 'another password' }
                : { title: 'a title', systemPrompt: 'Be brief.' };
    const bodyRoutes = [
      { method: 'post', path: '/api/auth/register', fields: ['email', 'password', 'displayName'] },
      { method: 'post', path: '/api/auth/login', fields: ['email', 'password'] },
      { method: 'post', path: '/api/chat-rooms', fields: ROOM_FIELDS },
      { method: 'patch', path: `/api/chat-rooms/${ownRoom}`, fields: ROOM_FIELDS },
      { method: 'post', path: `/api/chat-rooms/${ownRoom}/messages`, fields: ['content', 'role'] },
      {
        method: 'post',
        path: `/api/chat-rooms/${ownRoom}/generations`,
        fields: ['content', 'model'],
      },
      {
        method: 'post',
        path: '/api/users/me/password',
        fields: ['currentPassword', 'newPassword'],
      },
    ];
    const queryRoutes = [
      {
        path: '/api/chat-rooms',
        query: 'limit=5&offset=0&include=messages&q=a',
        params: ROOM_QUERY,
      },
      { path: '/api/search', query: 'q=message&limit=5', params: SEARCH_QUERY },
      {
        path: `/api/chat-rooms/${ownRoom}/messages`,
        query: `limit=5&before=${ownMessage}`,
        params: ['limit', 'before', 'after'],
      },
    ];
    // Every route with an id: method, path around the id, and the body it takes.
    const idRoutes: [string, string, string, string | undefined][] = [
      ['get', '/api/chat-rooms/', '', undefined],
      ['patch', '/api/chat-rooms/', '', '/api/chat-rooms'],
      ['delete', '/api/chat-rooms/', '', undefined],
      ['get', '/api/chat-rooms/', '/messages', undefined],
      ['get', '/api/chat-rooms/', '/export', undefined],
      ['post', '/api/chat-rooms/', '/messages', '/messages'],
      ['post', '/api/chat-rooms/', '/generations', '/generations'],
      ['get', '/api/generations/', '', undefined],
      ['get', '/api/generations/', '/events', undefined],
      ['post', '/api/generations/', '/cancel', undefined],
      ['delete', '/api/auth/sessions/', '', undefined],
    ];
    // Unknown names: those the runtime treats specially first, then any other.
    const unknownName = (declared: readonly string[]) =>
      fc
        .oneof(
          { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_NAMES) },
          { weight: 1, arbitrary: weirdString },
        )
        .filter((name) => !declared.includes(name));
    const malformedIds = fc.oneof(
      weirdString.map(encode).filter((id) => malformedId(id)),
      fc
        .tuple(fc.constantFrom('a', '0', 'z-', ownRoom), fc.integer({ min: 1, max: 6000 }))
        .map(([unit, length]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length))
        .filter((id) => malformedId(id)),
    );
    const flawed = fc.oneof(
      fc.tuple(fc.constantFrom(...bodyRoutes), nonObjectJson).map(([r, value]) => ({
        method: r.method,
        url: r.path,
        payload: JSON.stringify(value),
      })),
      fc
        .constantFrom(...bodyRoutes)
        .chain((r) => fc.tuple(fc.constant(r), unknownName(r.fields), weirdValue))
        .map(([r, name, value]) => ({
          method: r.method,
          url: r.path,
          // Built as JSON text: `__proto__` must be a real key, not the object's prototype.
          payload: `${JSON.stringify(validBody(r.path)).slice(0, -1)},${JSON.stringify(name)}:${JSON.stringify(value ?? null)}}`,
        })),
      fc
        .constantFrom(...queryRoutes)
        .chain((r) => fc.tuple(fc.constant(r), unknownName(r.params)))
        .map(([r, name]) => ({
          method: 'get',
          url: `${r.path}?${r.query}&${encode(name)}=1`,
          payload: undefined,
        })),
      fc
        .tuple(fc.constantFrom(...idRoutes), malformedIds)
        .map(([[method, before, after, body], id]) => ({
          method,
          url: `${before}${id}${after}`,
          payload: body === undefined ? undefined : JSON.stringify(validBody(body)),
        })),
    );
    await fc.assert(
      fc.asyncProperty(flawed, async ({ method, url, payload }) => {
        const before = await snapshot();
        let req = t.http[method as 'get'](url).set(owner.auth);
        if (payload !== undefined) req = req.set('content-type', 'application/json').send(payload);
        const res = await req;
        expect({
          url: url.slice(0, 80),
          payload: payload?.slice(0, 80),
          status: res.status,
        }).toEqual({
          url: url.slice(0, 80),
          payload: payload?.slice(0, 80),
          status: 400,
        });
        expectErrorBody(res, 400);
        expect(await snapshot()).toBe(before);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  }, 120_000);

  it('left the other user’s room exactly as it was (their token was never used)', async () => {
    const res = await t.http.get(`/api/chat-rooms/${othersRoom}`).set(other.auth).expect(200);
    expect(res.body).toEqual(othersRoomBefore);
  });
});
