import { registerUser, uniqueEmail } from '../factories/users';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';
import { nowSeconds, signJwt, unsignedJwt } from '../helpers/tokens';

describe('auth and users (e2e)', () => {
  let t: TestApp;
  const userCount = async () =>
    Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM users')).rows[0].n);

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  describe('POST /api/auth/register', () => {
    it('creates the user, normalises the e-mail and answers an AuthResult', async () => {
      const local = uniqueEmail('Mixed.Case');
      const res = await t.http
        .post('/api/auth/register')
        .send({
          email: `  ${local.toUpperCase()}  `,
          password: 'password-123',
          displayName: '  Ada  ',
        })
        .expect(201);

      expect(res.body).toEqual({
        user: {
          id: expect.stringMatching(/^[0-9a-f-]{36}$/),
          email: local.toLowerCase(),
          displayName: 'Ada',
          createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        },
        accessToken: expect.any(String),
        tokenType: 'Bearer',
        expiresIn: 900,
      });
      const { rows } = await t.db.query('SELECT email, password_hash FROM users WHERE id = $1', [
        res.body.user.id,
      ]);
      expect(rows[0].email).toBe(local.toLowerCase());
      expect(rows[0].password_hash).toMatch(/^\$argon2id\$/);
      expect(JSON.stringify(res.body)).not.toContain(rows[0].password_hash);
    });

    it('answers displayName null when it is absent', async () => {
      const res = await t.http
        .post('/api/auth/register')
        .send({ email: uniqueEmail(), password: 'password-123' })
        .expect(201);
      expect(res.body.user.displayName).toBeNull();
    });

    it('is 409 for an e-mail already registered, whatever its case', async () => {
      const email = uniqueEmail();
      await registerUser(t.http, { email });
      const before = await userCount();
      const res = await t.http
        .post('/api/auth/register')
        .send({ email: email.toUpperCase(), password: 'another-password' });
      expectErrorBody(res, 409);
      expect(await userCount()).toBe(before);
    });

    it.each([
      ['no e-mail', { password: 'password-123' }],
      ['a malformed e-mail', { email: 'not-an-email', password: 'password-123' }],
      [
        'an e-mail over 254 characters',
        { email: `${'a'.repeat(64)}@${'b'.repeat(186)}.com`, password: 'password-123' },
      ],
      ['an e-mail that is not a string', { email: 42, password: 'password-123' }],
      ['no password', { email: 'x@example.com' }],
      ['a 7-character password', { email: 'x@example.com', password: '1234567' }],
      ['a 129-character password', { email: 'x@example.com', password: 'p'.repeat(129) }],
      ['a password with a NUL byte', { email: 'x@example.com', password: 'pass\u0000word' }],
      ['a password that is a number', { email: 'x@example.com', password: 12345678 }],
      [
        'a blank displayName',
        { email: 'x@example.com', password: 'password-123', displayName: '   ' },
      ],
      [
        'a 51-character displayName',
        { email: 'x@example.com', password: 'password-123', displayName: 'd'.repeat(51) },
      ],
      ['an unknown field', { email: 'x@example.com', password: 'password-123', isAdmin: true }],
      ['an array body', [{ email: 'x@example.com', password: 'password-123' }]],
    ])('is 400 for %s and creates nothing', async (_case, body) => {
      const before = await userCount();
      const res = await t.http.post('/api/auth/register').send(body);
      expectErrorBody(res, 400);
      expect(await userCount()).toBe(before);
    });

    it('is 400 for malformed JSON', async () => {
      const res = await t.http
        .post('/api/auth/register')
        .set('content-type', 'application/json')
        .send('{"email": "x@example.com", ');
      expectErrorBody(res, 400);
    });

    it('accepts a 128-character password', async () => {
      const password = 'p'.repeat(128);
      const user = await registerUser(t.http, { password });
      await t.http.post('/api/auth/login').send({ email: user.email, password }).expect(200);
    });
  });

  describe('POST /api/auth/login', () => {
    it('signs in with the e-mail in any case and spacing', async () => {
      const user = await registerUser(t.http);
      const res = await t.http
        .post('/api/auth/login')
        .send({ email: ` ${user.email.toUpperCase()} `, password: user.password })
        .expect(200);
      expect(res.body.user.id).toBe(user.id);
      expect(res.body.tokenType).toBe('Bearer');
      await t.http
        .get('/api/users/me')
        .set('Authorization', `Bearer ${res.body.accessToken}`)
        .expect(200);
    });

    it('answers an unknown e-mail and a wrong password with the same 401 body', async () => {
      const user = await registerUser(t.http);
      const wrong = await t.http
        .post('/api/auth/login')
        .send({ email: user.email, password: 'wrong-password' });
      const unknown = await t.http
        .post('/api/auth/login')
        .send({ email: uniqueEmail('nobody'), password: user.password });
      expectErrorBody(wrong, 401);
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual(wrong.body);
    });

    it.each([
      ['no password', { email: 'x@example.com' }],
      ['a password that is an object', { email: 'x@example.com', password: { $gt: '' } }],
      ['an unknown field', { email: 'x@example.com', password: 'password-123', remember: true }],
    ])('is 400 for %s', async (_case, body) => {
      expectErrorBody(await t.http.post('/api/auth/login').send(body), 400);
    });
  });

  describe('GET /api/users/me', () => {
    it('answers the signed-in user without secrets', async () => {
      const user = await registerUser(t.http, { displayName: 'Grace' });
      const res = await t.http.get('/api/users/me').set(user.auth).expect(200);
      expect(res.body).toEqual({
        id: user.id,
        email: user.email,
        displayName: 'Grace',
        createdAt: expect.any(String),
      });
    });

    it('is 401 without a token', async () => {
      expectErrorBody(await t.http.get('/api/users/me'), 401);
    });

    describe('rejects every forged or unusable token with the same 401', () => {
      let user: Awaited<ReturnType<typeof registerUser>>;
      let reference: unknown;
      beforeAll(async () => {
        user = await registerUser(t.http);
        reference = (await t.http.get('/api/users/me')).body;
        // Verified tokens are remembered: the genuine one is used first, so the forgeries below
        // (the tampered payload keeps its signature) meet a warm cache.
        await t.http.get('/api/users/me').set(user.auth).expect(200);
        await t.http.get('/api/chat-rooms').set(user.auth).expect(200);
      });

      const cases: [string, () => Record<string, string>][] = [
        ['a token without the Bearer prefix', () => ({ Authorization: user.token })],
        ['a Basic credential', () => ({ Authorization: 'Basic dXNlcjpwYXNz' })],
        ['garbage', () => ({ Authorization: 'Bearer not.a.jwt' })],
        [
          'alg none',
          () => ({
            Authorization: `Bearer ${unsignedJwt({ sub: user.id, sid: user.sessionId, exp: nowSeconds() + 60 })}`,
          }),
        ],
        [
          'another secret',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: user.id, sid: user.sessionId, exp: nowSeconds() + 60 }, { secret: 'x'.repeat(40) })}`,
          }),
        ],
        [
          'HS512 with the right secret',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: user.id, sid: user.sessionId, exp: nowSeconds() + 60 }, { secret: TEST_JWT_SECRET, header: { alg: 'HS512', typ: 'JWT' } })}`,
          }),
        ],
        [
          'a tampered payload',
          () => {
            const [h, , s] = user.token.split('.');
            const forged = Buffer.from(
              JSON.stringify({
                sub: '00000000-0000-4000-8000-000000000000',
                exp: nowSeconds() + 60,
              }),
            ).toString('base64url');
            return { Authorization: `Bearer ${h}.${forged}.${s}` };
          },
        ],
        [
          'an expired token',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: user.id, sid: user.sessionId, iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }, { secret: TEST_JWT_SECRET })}`,
          }),
        ],
        [
          'a subject that is not a uuid',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: "1' OR '1'='1", exp: nowSeconds() + 60 }, { secret: TEST_JWT_SECRET })}`,
          }),
        ],
        [
          'a genuine token without a session id',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: user.id, exp: nowSeconds() + 60 }, { secret: TEST_JWT_SECRET })}`,
          }),
        ],
        [
          'a subject of no user',
          () => ({
            Authorization: `Bearer ${signJwt({ sub: '00000000-0000-4000-8000-000000000000', sid: '00000000-0000-4000-8000-000000000001', exp: nowSeconds() + 60 }, { secret: TEST_JWT_SECRET })}`,
          }),
        ],
      ];

      it.each(cases)('%s', async (_case, headers) => {
        const res = await t.http.get('/api/users/me').set(headers());
        expectErrorBody(res, 401);
        expect(res.body).toEqual(reference);
        // Chat routes skip the user look-up: the token check alone must refuse it.
        expect((await t.http.get('/api/chat-rooms').set(headers())).body).toEqual(reference);
      });

      it('a token that was accepted stops working when it expires', async () => {
        const exp = nowSeconds() + 2;
        const token = signJwt(
          { sub: user.id, sid: user.sessionId, exp },
          { secret: TEST_JWT_SECRET },
        );
        const auth = { Authorization: `Bearer ${token}` };
        await t.http.get('/api/chat-rooms').set(auth).expect(200);
        // Expiry is judged by the wall clock (jsonwebtoken's, and the verified-token cache's,
        // which keeps its own reference to Date.now): the only thing to wait for is the time.
        await new Promise((resolve) => setTimeout(resolve, exp * 1000 + 50 - Date.now()));
        expectErrorBody(await t.http.get('/api/chat-rooms').set(auth), 401);
        expectErrorBody(await t.http.get('/api/users/me').set(auth), 401);
      });

      it('while the genuine token still works', async () => {
        await t.http.get('/api/users/me').set(user.auth).expect(200);
      });
    });
  });

  describe('DELETE /api/users/me', () => {
    it('deletes the user; the token stops working and the login too', async () => {
      const user = await registerUser(t.http);
      const other = await registerUser(t.http);
      await t.http.delete('/api/users/me').set(user.auth).expect(204);

      expectErrorBody(await t.http.get('/api/users/me').set(user.auth), 401);
      expectErrorBody(await t.http.delete('/api/users/me').set(user.auth), 401);
      expectErrorBody(
        await t.http.post('/api/auth/login').send({ email: user.email, password: user.password }),
        401,
      );
      const { rowCount } = await t.db.query('SELECT 1 FROM users WHERE id = $1', [user.id]);
      expect(rowCount).toBe(0);
      await t.http.get('/api/users/me').set(other.auth).expect(200);
    });

    it('is 401 without a token', async () => {
      expectErrorBody(await t.http.delete('/api/users/me'), 401);
    });
  });
});
