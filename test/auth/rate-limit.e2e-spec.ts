import { registerUser, uniqueEmail } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

describe('auth rate limiting (e2e)', () => {
  let t: TestApp;
  const LIMIT = 3;

  beforeAll(async () => {
    t = await startTestApp({ AUTH_RATE_LIMIT: String(LIMIT) });
  });
  afterAll(() => t.close());

  it('answers 429 with Retry-After once a client exceeds AUTH_RATE_LIMIT logins a minute', async () => {
    const attempt = () =>
      t.http.post('/api/auth/login').send({ email: uniqueEmail(), password: 'password-123' });
    for (let i = 0; i < LIMIT; i++) expect((await attempt()).status).toBe(401);

    const limited = await attempt();
    expectErrorBody(limited, 429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
  });

  it('counts register separately, and a limited register creates nothing', async () => {
    const register = (email: string) =>
      t.http.post('/api/auth/register').send({ email, password: 'password-123' });
    for (let i = 0; i < LIMIT; i++) expect((await register(uniqueEmail())).status).toBe(201);

    const email = uniqueEmail('limited');
    const limited = await register(email);
    expectErrorBody(limited, 429);
    expect(limited.headers['retry-after']).toBeDefined();
    const { rowCount } = await t.db.query('SELECT 1 FROM users WHERE email = $1', [email]);
    expect(rowCount).toBe(0);
  });

  it('does not limit other routes', async () => {
    for (let i = 0; i < LIMIT + 2; i++) await t.http.get('/api/health').expect(200);
  });
});

describe('login rate limiting per account (e2e)', () => {
  let t: TestApp;
  const LIMIT = 3;

  beforeAll(async () => {
    t = await startTestApp({ AUTH_RATE_LIMIT: String(LIMIT), TRUST_PROXY_HOPS: '1' });
  });
  afterAll(() => t.close());

  const login = (email: string, address: string, password = 'wrong-password-1') =>
    t.http.post('/api/auth/login').set('X-Forwarded-For', address).send({ email, password });

  it('limits guesses at one account from many addresses, and counts the e-mail as stored', async () => {
    const user = await registerUser(t.http, { password: 'the-right-password' });
    const variants = [user.email, `  ${user.email.toUpperCase()}`, user.email];
    for (let i = 0; i < LIMIT; i++) {
      expect((await login(variants[i], `198.51.100.${i + 1}`)).status).toBe(401);
    }
    // A new address, even with the right password: the account is limited.
    const limited = await login(user.email, '198.51.100.200', 'the-right-password');
    expectErrorBody(limited, 429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // Another account from those addresses is not limited.
    expect((await login(uniqueEmail(), '198.51.100.1')).status).toBe(401);
  });

  it('keeps the counters in PostgreSQL, hashed: no e-mail or address is stored', async () => {
    const { rows } = await t.db.query<{ key: string }>('SELECT key FROM rate_limits');
    expect(rows.length).toBeGreaterThan(0);
    for (const { key } of rows) expect(key).toMatch(/^[0-9a-f]{64}$/);
  });
});
