import fc from 'fast-check';
import type { Response } from 'supertest';
import { createRoom, postMessage } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

/**
 * Property: whatever a client sends to any route, authenticated or not, the answer is below
 * 500, every 4xx has the contract's error body, and a rejected request changed nothing.
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

const FIELDS = ['title', 'content', 'role', 'email', 'password', 'displayName'];
const bodyObject = fc.dictionary(
  fc.oneof(fc.constantFrom(...FIELDS, '__proto__', 'constructor', 'prototype'), weirdString),
  weirdValue,
  { maxKeys: 4 },
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
const body: fc.Arbitrary<Body> = fc.oneof(
  bodyObject.map((o) => ({ contentType: 'application/json', payload: JSON.stringify(o) })),
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
      fc.constantFrom('limit', 'offset', 'include', 'before', 'after', 'q', 'cursor', '__proto__'),
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

describe('hostile input, property-based (e2e)', () => {
  let t: TestApp;
  let owner: RegisteredUser;
  let other: RegisteredUser;
  let ownRoom: string;
  let othersRoom: string;
  let ownMessage: string;
  let othersRoomBefore: unknown;

  const snapshot = async () =>
    (
      await t.db.query<{ s: string }>(
        `SELECT concat_ws('|',
           (SELECT md5(coalesce(string_agg(u::text, ',' ORDER BY u.id), '')) FROM users u),
           (SELECT md5(coalesce(string_agg(r::text, ',' ORDER BY r.id), '')) FROM chat_rooms r),
           (SELECT md5(coalesce(string_agg(m::text, ',' ORDER BY m.id), '')) FROM messages m)) AS s`,
      )
    ).rows[0].s;

  beforeAll(async () => {
    t = await startTestApp();
    owner = await registerUser(t.http);
    other = await registerUser(t.http);
    ownRoom = (await createRoom(t.http, owner)).id;
    othersRoom = (await createRoom(t.http, other)).id;
    ownMessage = (await postMessage(t.http, owner, ownRoom, 'hello')).id;
    await postMessage(t.http, other, othersRoom, 'private');
    othersRoomBefore = (await t.http.get(`/api/chat-rooms/${othersRoom}`).set(other.auth)).body;
  });
  afterAll(() => t.close());

  const pathId = () =>
    fc.oneof(
      fc.constantFrom(ownRoom, othersRoom, ownMessage, '00000000-0000-4000-8000-000000000000'),
      weirdString.map(encode),
      fc.constantFrom('%', '%ZZ', '..', '%2e%2e', 'a'.repeat(500)),
    );
  const route = () =>
    fc.oneof(
      fc.constant({ method: 'post', path: '/api/auth/register' }),
      fc.constant({ method: 'post', path: '/api/auth/login' }),
      fc.constant({ method: 'get', path: '/api/users/me' }),
      fc.constant({ method: 'get', path: '/api/health' }),
      fc.constant({ method: 'post', path: '/api/chat-rooms' }),
      fc.constant({ method: 'get', path: '/api/chat-rooms' }),
      fc.constant({ method: 'get', path: '/api/search' }),
      ...(['get', 'patch', 'delete'] as const).map((method) =>
        pathId().map((id) => ({ method, path: `/api/chat-rooms/${id}` })),
      ),
      ...(['get', 'post'] as const).map((method) =>
        pathId().map((id) => ({ method, path: `/api/chat-rooms/${id}/messages` })),
      ),
      fc
        .constantFrom('put', 'options', 'head')
        .map((method) => ({ method, path: '/api/chat-rooms' })),
    );
  const authorization = () =>
    fc.oneof(
      fc.constant(undefined),
      fc.constant('owner'),
      fc.constantFrom('Bearer', 'Bearer ', 'Bearer a.b.c', 'Basic Zm9vOmJhcg==', 'bearer x'),
      weirdString.map((s) => `Bearer ${s}`),
    );

  async function send(
    r: { method: string; path: string },
    q: string,
    b: Body,
    auth: string | undefined,
    requestId: string,
  ): Promise<Response> {
    const url = q ? `${r.path}?${q}` : r.path;
    let req = t.http[r.method as 'get'](url);
    if (auth === 'owner') req = req.set(owner.auth);
    else if (auth !== undefined) req = req.set('Authorization', headerSafe(auth));
    req = req.set('x-request-id', headerSafe(requestId));
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
        async (r, q, b, auth, rid) => {
          const before = await snapshot();
          const res = await send(r, q, b, auth, rid);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400 && r.method !== 'head') {
            expectErrorBody(res, res.status);
            expect(await snapshot()).toBe(before);
          }
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
    // 300 cases over HTTP, search among them: more than jest's default 5 s on a busy machine.
  }, 60_000);

  it('left the other user’s room exactly as it was (their token was never used)', async () => {
    const res = await t.http.get(`/api/chat-rooms/${othersRoom}`).set(other.auth).expect(200);
    expect(res.body).toEqual(othersRoomBefore);
  });
});
