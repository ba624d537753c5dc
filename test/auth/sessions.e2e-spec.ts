import { randomUUID } from 'node:crypto';
import { registerUser, RegisteredUser, uniqueEmail } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { waitForLockWaiters } from '../helpers/database';
import { expectErrorBody } from '../helpers/expect-error';
import {
  controlClock,
  expectSessionEnded,
  expectSessionLive,
  login,
  refresh,
  setRefreshCookie,
  SignedIn,
  signedInFrom,
} from '../helpers/sessions';

const DAY = 86_400_000;
const TRUSTED = 'https://app.example.com';

describe('sessions (e2e)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: TRUSTED });
  });
  afterAll(() => t.close());

  async function newUser(): Promise<RegisteredUser & SignedIn> {
    return registerUser(t.http);
  }

  async function liveSessions(s: SignedIn) {
    const res = await t.http.get('/api/auth/sessions').set(s.auth).expect(200);
    return res.body as { id: string; current: boolean }[];
  }

  describe('the refresh cookie', () => {
    it('register and login set it HttpOnly, SameSite=Strict, Path=/api/auth, not Secure outside production; never in a body', async () => {
      const email = uniqueEmail();
      const res = await t.http
        .post('/api/auth/register')
        .send({ email, password: 'password-123' })
        .expect(201);
      const cookie = setRefreshCookie(res)!;
      expect(cookie).toBeDefined();
      const attributes = cookie.split(/;\s*/).slice(1);
      expect(attributes).toEqual(
        expect.arrayContaining(['Max-Age=604800', 'Path=/api/auth', 'HttpOnly', 'SameSite=Strict']),
      );
      expect(attributes).not.toContain('Secure');
      const value = cookie.split(';')[0].split('=')[1];
      expect(value.length).toBeGreaterThanOrEqual(43 + 36);
      expect(JSON.stringify(res.body)).not.toContain(value);
      expect(Object.keys(res.body as object).sort()).toEqual([
        'accessToken',
        'expiresIn',
        'tokenType',
        'user',
      ]);

      const loggedIn = await t.http
        .post('/api/auth/login')
        .send({ email, password: 'password-123' })
        .expect(200);
      expect(setRefreshCookie(loggedIn)).toMatch(/HttpOnly/);
      expect(JSON.stringify(loggedIn.body)).not.toContain(
        setRefreshCookie(loggedIn)!.split(';')[0].split('=')[1],
      );
    });

    it('stores only hashes of refresh tokens, never a token', async () => {
      const user = await newUser();
      const value = user.refreshCookie.split('=')[1];
      const { rows } = await t.db.query<Record<string, unknown>>(
        'SELECT * FROM sessions WHERE user_id = $1',
        [user.id],
      );
      expect(rows).toHaveLength(1);
      const stored = JSON.stringify(rows.map((r) => Object.values(r).map(String)));
      for (const part of value.split('.').slice(2)) expect(stored).not.toContain(part);
      expect((rows[0].token_hash as Buffer).length).toBe(32);
    });

    it('is Secure in production (COOKIE_SECURE defaults to true there) unless COOKIE_SECURE=false', async () => {
      for (const [env, secure] of [
        [{ NODE_ENV: 'production' }, true],
        [{ NODE_ENV: 'production', COOKIE_SECURE: 'false' }, false],
        [{ NODE_ENV: 'development', COOKIE_SECURE: 'true' }, true],
      ] as const) {
        const app = await startTestApp({ ...env }, { databaseUrl: t.databaseUrl });
        try {
          const res = await app.http
            .post('/api/auth/register')
            .send({ email: uniqueEmail(), password: 'password-123' })
            .expect(201);
          const attributes = setRefreshCookie(res)!.split(/;\s*/);
          expect(attributes.includes('Secure')).toBe(secure);
          expect(attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict']));
        } finally {
          await app.app.close();
          await app.db.end();
        }
      }
    });
  });

  describe('POST /api/auth/refresh', () => {
    it('rotates: a new access token of the same session and a new cookie; the old one is spent', async () => {
      const user = await newUser();
      const res = await refresh(t.http, user.refreshCookie).expect(200);
      const next = signedInFrom(res);
      expect(res.body).toMatchObject({
        tokenType: 'Bearer',
        expiresIn: 900,
        user: { id: user.id },
      });
      expect(next.sessionId).toBe(user.sessionId);
      expect(next.refreshCookie).not.toBe(user.refreshCookie);
      await expectSessionLive(t.http, next);
      // The new cookie rotates again.
      const third = signedInFrom(await refresh(t.http, next.refreshCookie).expect(200));
      expect(third.refreshCookie).not.toBe(next.refreshCookie);
      await expectSessionLive(t.http, third);
    });

    it('is 401 without a cookie, with a forged or unknown one, and clears the cookie', async () => {
      const user = await newUser();
      const [, generation, secret, mac] = user.refreshCookie.split('=')[1].split('.');
      const forged = [
        '',
        'refresh_token=',
        'refresh_token=garbage',
        `refresh_token=${randomUUID()}.${generation}.${secret}.${mac}`,
        `refresh_token=${user.sessionId}.${generation}.${secret}.${mac.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))}`,
        `refresh_token=${user.sessionId}.1.${secret}.${mac}`,
        `refresh_token=${'x'.repeat(5000)}`,
      ];
      for (const cookie of forged) {
        const res = await t.http.post('/api/auth/refresh').set('Cookie', cookie);
        expectErrorBody(res, 401);
        expect(setRefreshCookie(res)).toMatch(
          /^refresh_token=;.*(Max-Age=0|Expires=Thu, 01 Jan 1970)/,
        );
      }
      // None of them was taken for a reuse: the session lives on.
      await expectSessionLive(t.http, user);
      await refresh(t.http, user.refreshCookie).expect(200);
    });

    it('refreshes with the same token at once: one rotation, the others the grace answer', async () => {
      const user = await newUser();
      // The session's row is locked meanwhile, so that every refresh is in flight at once
      // (as two instances would be) before any of them can finish.
      await t.db.query('BEGIN');
      await t.db.query('SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE', [user.sessionId]);
      const pending = Promise.all(
        Array.from({ length: 4 }, () => refresh(t.http, user.refreshCookie).then((res) => res)),
      );
      await waitForLockWaiters(t.databaseUrl, 4);
      await t.db.query('COMMIT');
      const answers = await pending;
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      const rotated = answers.filter((r) => setRefreshCookie(r));
      expect(rotated).toHaveLength(1);
      for (const res of answers) {
        const s = signedInFrom(res);
        expect(s.sessionId).toBe(user.sessionId);
        expect((await t.http.get('/api/users/me').set(s.auth)).status).toBe(200);
      }
      const { rows } = await t.db.query('SELECT generation FROM sessions WHERE id = $1', [
        user.sessionId,
      ]);
      expect(rows[0].generation).toBe(1);
      // Nobody was logged out: the rotated cookie works.
      await refresh(t.http, signedInFrom(rotated[0]).refreshCookie).expect(200);
    });

    it('a spent token after the 10 s grace revokes the whole session', async () => {
      const clock = controlClock(t);
      try {
        const user = await newUser();
        const next = signedInFrom(await refresh(t.http, user.refreshCookie).expect(200));
        await t.http.get('/api/chat-rooms').set(next.auth).expect(200); // cached as verified
        clock.advance(9_000);
        await refresh(t.http, user.refreshCookie).expect(200); // still the grace answer
        clock.advance(2_000);
        expectErrorBody(await refresh(t.http, user.refreshCookie), 401);
        await expectSessionEnded(t.http, next);
        await expectSessionEnded(t.http, user);
        const { rows } = await t.db.query('SELECT revoked_reason FROM sessions WHERE id = $1', [
          user.sessionId,
        ]);
        expect(rows[0].revoked_reason).toBe('refresh_token_reused');
      } finally {
        clock.reset();
      }
    });

    it('a token several rotations old revokes the session too', async () => {
      const user = await newUser();
      let current: SignedIn = user;
      for (let i = 0; i < 3; i++)
        current = signedInFrom(await refresh(t.http, current.refreshCookie).expect(200));
      expectErrorBody(await refresh(t.http, user.refreshCookie), 401);
      await expectSessionEnded(t.http, current);
    });

    it('ends SESSION_IDLE_DAYS (7) after the last refresh', async () => {
      const clock = controlClock(t);
      try {
        const user = await newUser();
        clock.advance(6 * DAY);
        const next = signedInFrom(await refresh(t.http, user.refreshCookie).expect(200));
        clock.advance(7 * DAY - 1000);
        const last = signedInFrom(await refresh(t.http, next.refreshCookie).expect(200));
        clock.advance(7 * DAY + 1000);
        expectErrorBody(await refresh(t.http, last.refreshCookie), 401);
        expect(await liveSessions(await login(t.http, user.email, user.password))).toHaveLength(1);
      } finally {
        clock.reset();
      }
    });

    it('ends SESSION_MAX_DAYS (30) after sign-in, however often it is refreshed', async () => {
      const clock = controlClock(t);
      try {
        const user = await newUser();
        let current: SignedIn = user;
        for (let day = 6; day < 30; day += 6) {
          clock.advance(6 * DAY);
          const res = await refresh(t.http, current.refreshCookie).expect(200);
          current = signedInFrom(res);
          // The cookie never outlives the session.
          const maxAge = Number(/Max-Age=(\d+)/.exec(setRefreshCookie(res)!)![1]);
          expect(maxAge).toBeLessThanOrEqual(((30 - day) * DAY) / 1000);
        }
        clock.advance(6 * DAY + 1000); // day 30 and a second
        expectErrorBody(await refresh(t.http, current.refreshCookie), 401);
      } finally {
        clock.reset();
      }
    });

    it('never issues an access token that outlives the session', async () => {
      const clock = controlClock(t);
      try {
        const user = await newUser();
        let current: SignedIn = user;
        for (let i = 0; i < 4; i++) {
          clock.advance(6 * DAY);
          current = signedInFrom(await refresh(t.http, current.refreshCookie).expect(200));
        }
        clock.advance(6 * DAY - 100_000); // day 30 less 100 s: the absolute end is near
        const res = await refresh(t.http, current.refreshCookie).expect(200);
        expect(res.body.expiresIn).toBeLessThanOrEqual(100);
        expect(res.body.expiresIn).toBeGreaterThan(90);
      } finally {
        clock.reset();
      }
    });
  });

  describe('Origin on the cookie routes', () => {
    it('refuses a foreign Origin (403) and changes nothing', async () => {
      const user = await newUser();
      for (const origin of [
        'https://evil.example.com',
        'null',
        'http://chat.example.test.evil.example.com',
      ]) {
        expectErrorBody(
          await refresh(t.http, user.refreshCookie, origin).set('Host', 'chat.example.test'),
          403,
        );
        expectErrorBody(
          await t.http
            .post('/api/auth/logout')
            .set('Cookie', user.refreshCookie)
            .set('Origin', origin),
          403,
        );
      }
      await expectSessionLive(t.http, user);
      const { rows } = await t.db.query('SELECT generation FROM sessions WHERE id = $1', [
        user.sessionId,
      ]);
      expect(rows[0].generation).toBe(0);
    });

    it('accepts the service’s own origin and those of CORS_ORIGINS', async () => {
      const user = await newUser();
      const a = signedInFrom(
        await refresh(t.http, user.refreshCookie, 'http://chat.example.test')
          .set('Host', 'chat.example.test')
          .expect(200),
      );
      const b = signedInFrom(await refresh(t.http, a.refreshCookie, TRUSTED).expect(200));
      await t.http
        .post('/api/auth/logout')
        .set('Cookie', b.refreshCookie)
        .set('Origin', TRUSTED)
        .expect(204);
    });

    it('refuses Sec-Fetch-Site: cross-site (403) whatever Origin says, and changes nothing', async () => {
      const user = await newUser();
      for (const origin of [TRUSTED, undefined]) {
        expectErrorBody(
          await refresh(t.http, user.refreshCookie, origin).set('Sec-Fetch-Site', 'cross-site'),
          403,
        );
        let logout = t.http
          .post('/api/auth/logout')
          .set('Cookie', user.refreshCookie)
          .set('Sec-Fetch-Site', 'Cross-Site');
        if (origin) logout = logout.set('Origin', origin);
        expectErrorBody(await logout, 403);
      }
      await expectSessionLive(t.http, user);
    });

    it('lets same-origin, same-site and user-initiated (none) requests through', async () => {
      let signedIn: SignedIn = await newUser();
      for (const site of ['same-origin', 'same-site', 'none']) {
        signedIn = signedInFrom(
          await refresh(t.http, signedIn.refreshCookie, TRUSTED)
            .set('Sec-Fetch-Site', site)
            .expect(200),
        );
      }
    });

    it('answers a listed origin’s preflight with credentials', async () => {
      const res = await t.http
        .options('/api/auth/refresh')
        .set('Origin', TRUSTED)
        .set('Access-Control-Request-Method', 'POST');
      expect(res.headers['access-control-allow-origin']).toBe(TRUSTED);
      expect(res.headers['access-control-allow-credentials']).toBe('true');
    });
  });

  describe('ending sessions', () => {
    it('logout: 204, the cookie cleared, the session revoked; idempotent, also without a session', async () => {
      const user = await newUser();
      await expectSessionLive(t.http, user);
      const res = await t.http
        .post('/api/auth/logout')
        .set('Cookie', user.refreshCookie)
        .expect(204);
      expect(setRefreshCookie(res)).toMatch(/^refresh_token=;/);
      expect(setRefreshCookie(res)).toMatch(/Path=\/api\/auth/);
      await expectSessionEnded(t.http, user);
      const again = await t.http
        .post('/api/auth/logout')
        .set('Cookie', user.refreshCookie)
        .expect(204);
      expect(setRefreshCookie(again)).toMatch(/^refresh_token=;/);
      const none = await t.http.post('/api/auth/logout').expect(204);
      expect(setRefreshCookie(none)).toMatch(/^refresh_token=;/);
    });

    it('DELETE /api/auth/sessions/:id revokes that session only; 404 for another user’s or an unknown one; 400 malformed', async () => {
      const user = await newUser();
      const phone = await login(t.http, user.email, user.password);
      const other = await newUser();
      await expectSessionLive(t.http, phone);

      expectErrorBody(
        await t.http.delete(`/api/auth/sessions/${other.sessionId}`).set(user.auth),
        404,
      );
      expectErrorBody(
        await t.http.delete(`/api/auth/sessions/${randomUUID()}`).set(user.auth),
        404,
      );
      expectErrorBody(await t.http.delete('/api/auth/sessions/not-a-uuid').set(user.auth), 400);
      expectErrorBody(await t.http.delete(`/api/auth/sessions/${phone.sessionId}`), 401);
      await expectSessionLive(t.http, other);

      await t.http.delete(`/api/auth/sessions/${phone.sessionId}`).set(user.auth).expect(204);
      await expectSessionEnded(t.http, phone);
      await expectSessionLive(t.http, user);
      expectErrorBody(
        await t.http.delete(`/api/auth/sessions/${phone.sessionId}`).set(user.auth),
        404,
      );
    });

    it('DELETE /api/auth/sessions revokes every other session of the caller, not the current one', async () => {
      const user = await newUser();
      const others = [
        await login(t.http, user.email, user.password),
        await login(t.http, user.email, user.password),
      ];
      const stranger = await newUser();
      for (const s of others) await expectSessionLive(t.http, s);
      await t.http.delete('/api/auth/sessions').set(user.auth).expect(204);
      for (const s of others) await expectSessionEnded(t.http, s);
      await expectSessionLive(t.http, user);
      await expectSessionLive(t.http, stranger);
      expect((await liveSessions(user)).map((s) => s.id)).toEqual([user.sessionId]);
    });

    it('password change: wrong current is 400 and changes nothing; right ends every other session, keeps this one', async () => {
      const user = await newUser();
      const phone = await login(t.http, user.email, user.password);
      const change = (body: object) =>
        t.http.post('/api/users/me/password').set(user.auth).send(body);

      expectErrorBody(
        await change({ currentPassword: 'wrong-password', newPassword: 'new-password-1' }),
        400,
      );
      for (const body of [
        {},
        { currentPassword: user.password },
        { currentPassword: user.password, newPassword: 'short' },
        { currentPassword: user.password, newPassword: 'x'.repeat(129) },
        { currentPassword: user.password, newPassword: 'new-password-1', extra: 1 },
        { currentPassword: 42, newPassword: 'new-password-1' },
      ]) {
        expectErrorBody(await change(body), 400);
      }
      expectErrorBody(
        await t.http
          .post('/api/users/me/password')
          .send({ currentPassword: user.password, newPassword: 'new-password-1' }),
        401,
      );
      await expectSessionLive(t.http, phone);
      await login(t.http, user.email, user.password);

      await change({ currentPassword: user.password, newPassword: 'new-password-1' }).expect(204);
      await expectSessionEnded(t.http, phone);
      await expectSessionLive(t.http, user);
      await refresh(t.http, user.refreshCookie).expect(200);
      expectErrorBody(
        await t.http.post('/api/auth/login').send({ email: user.email, password: user.password }),
        401,
      );
      await login(t.http, user.email, 'new-password-1');
      const { rows } = await t.db.query(
        "SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND revoked_reason = 'password_changed'",
        [user.id],
      );
      expect(rows[0].n).toBe(2);
    });

    it('deleting the user deletes their sessions; their access token and cookie stop working', async () => {
      const user = await newUser();
      const phone = await login(t.http, user.email, user.password);
      await expectSessionLive(t.http, phone);
      await t.http.delete('/api/users/me').set(user.auth).expect(204);
      await expectSessionEnded(t.http, user);
      await expectSessionEnded(t.http, phone);
      const { rows } = await t.db.query(
        'SELECT count(*)::int AS n FROM sessions WHERE user_id = $1',
        [user.id],
      );
      expect(rows[0].n).toBe(0);
    });
  });

  describe('GET /api/auth/sessions', () => {
    it('lists the caller’s live sessions, newest first, with `current`', async () => {
      const user = await newUser();
      const second = await t.http
        .post('/api/auth/login')
        .set('User-Agent', 'Phone/1.0')
        .send({ email: user.email, password: user.password })
        .expect(200)
        .then(signedInFrom);
      const third = await login(t.http, user.email, user.password);
      await newUser(); // another user's sessions never show
      await t.http.delete(`/api/auth/sessions/${third.sessionId}`).set(user.auth).expect(204);

      const res = await t.http.get('/api/auth/sessions').set(second.auth).expect(200);
      expect(res.body).toEqual([
        {
          id: second.sessionId,
          createdAt: expect.stringMatching(/Z$/),
          lastUsedAt: expect.stringMatching(/Z$/),
          expiresAt: expect.stringMatching(/Z$/),
          userAgent: 'Phone/1.0',
          current: true,
        },
        expect.objectContaining({ id: user.sessionId, current: false }),
      ]);
      const [s] = res.body as { createdAt: string; expiresAt: string }[];
      expect(Date.parse(s.expiresAt) - Date.parse(s.createdAt)).toBe(7 * DAY);
      expectErrorBody(await t.http.get('/api/auth/sessions'), 401);
    });
  });
});
