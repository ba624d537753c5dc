import { uniqueEmail } from '../factories/users';
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
