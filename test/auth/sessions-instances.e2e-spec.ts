import { Client } from 'pg';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import { TEST_JWT_SECRET } from '../helpers/app';
import {
  Answer,
  Child,
  destroyAgent,
  fetch,
  startServer,
  waitForHealth,
} from '../helpers/server-process';
import { freePort } from '../helpers/net';

/**
 * Several real app processes on one database behave as one: a revocation on one is a 401 on
 * the others from the next request on (and on an instance started afterwards), concurrent
 * refreshes through two instances rotate once, and login limits are counted together.
 */
describe('sessions across instances (e2e)', () => {
  const LIMIT = 4;
  let database: { url: string; drop(): Promise<void> };
  const servers: Child[] = [];
  let a: string;
  let b: string;
  let address = 0;

  async function start(): Promise<string> {
    const port = await freePort();
    const server = startServer({
      NODE_ENV: 'development',
      PORT: String(port),
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      AUTH_RATE_LIMIT: String(LIMIT),
      TRUST_PROXY_HOPS: '1',
      LOG_LEVEL: 'warn',
      // Configured (never called) so that each instance holds a LISTEN connection to cut.
      LLM_BASE_URL: 'http://127.0.0.1:9/v1',
      LLM_MODEL: 'fake-model',
    });
    servers.push(server);
    const base = `http://127.0.0.1:${port}`;
    await waitForHealth(base, server);
    return base;
  }

  beforeAll(async () => {
    database = await createTestDatabase();
    [a, b] = await Promise.all([start(), start()]);
  }, 120_000);

  afterAll(async () => {
    for (const server of servers) {
      server.process.kill('SIGTERM');
      await server.exited;
    }
    destroyAgent();
    await database.drop();
  });

  // Every request from its own client address, so only the limits under test are met.
  const post = (base: string, path: string, headers: Record<string, string> = {}, body?: object) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'x-forwarded-for': `198.51.100.${(address = (address % 250) + 1)}`,
        ...(body && { 'content-type': 'application/json' }),
        ...headers,
      },
      body: body && JSON.stringify(body),
    });
  const get = (base: string, path: string, token: string) =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const cookieOf = (res: Answer) =>
    (res.headers['set-cookie'] ?? []).find((c) => c.startsWith('refresh_token='))?.split(';')[0];
  const tokenOf = (res: Answer) => res.json<{ accessToken: string }>().accessToken;
  const sidOf = (token: string) =>
    (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { sid: string }).sid;

  async function statuses(token: string, bases: string[]): Promise<number[]> {
    const answers = [];
    for (const base of bases) {
      answers.push((await get(base, '/api/chat-rooms', token)).status);
      answers.push((await get(base, '/api/users/me', token)).status);
    }
    return answers;
  }

  const password = 'instances-password-1';
  const email = `instances-${Date.now()}@example.com`;

  it('a session revoked on one instance is refused by the other at once, and by one started later', async () => {
    const registered = await post(a, '/api/auth/register', {}, { email, password });
    expect(registered.status).toBe(201);
    const first = tokenOf(registered);
    const second = tokenOf(await post(b, '/api/auth/login', {}, { email, password }));
    const third = await post(a, '/api/auth/login', {}, { email, password });
    // Both instances have verified (and cached) every token.
    expect(await statuses(first, [a, b])).toEqual([200, 200, 200, 200]);
    expect(await statuses(second, [a, b])).toEqual([200, 200, 200, 200]);
    expect(await statuses(tokenOf(third), [a, b])).toEqual([200, 200, 200, 200]);

    const revoke = await fetch(`${a}/api/auth/sessions/${sidOf(second)}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${first}` },
    });
    expect(revoke.status).toBe(204);
    expect(await statuses(second, [b, a])).toEqual([401, 401, 401, 401]);

    const logout = await post(b, '/api/auth/logout', { cookie: cookieOf(third)! });
    expect(logout.status).toBe(204);
    expect(await statuses(tokenOf(third), [a, b])).toEqual([401, 401, 401, 401]);
    expect(await statuses(first, [a, b])).toEqual([200, 200, 200, 200]);

    const later = await start();
    expect(await statuses(second, [later])).toEqual([401, 401]);
    expect(await statuses(tokenOf(third), [later])).toEqual([401, 401]);
    expect(await statuses(first, [later])).toEqual([200, 200]);
  }, 120_000);

  it('in round after round, a logout on one instance is a 401 on the other at its next request', async () => {
    for (let round = 0; round < 12; round++) {
      const [here, there] = round % 2 ? [a, b] : [b, a];
      const res = await post(
        here,
        '/api/auth/register',
        {},
        {
          email: `round-${round}-${Date.now()}@example.com`,
          password,
        },
      );
      const token = tokenOf(res);
      expect(await statuses(token, [there])).toEqual([200, 200]);
      expect((await post(here, '/api/auth/logout', { cookie: cookieOf(res)! })).status).toBe(204);
      expect(await statuses(token, [there, here])).toEqual([401, 401, 401, 401]);
    }
  });

  it("while the instances' LISTEN connections are cut and after they come back, a revocation is a 401 at the next request", async () => {
    const db = new Client({ connectionString: database.url });
    await db.connect();
    try {
      const listeners = async () =>
        (
          await db.query<{ pid: number }>(
            `SELECT pid FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'`,
          )
        ).rows.map((row) => row.pid);
      const before = await listeners();
      expect(before.length).toBeGreaterThanOrEqual(2);
      const own = { email: `listen-${Date.now()}@example.com`, password };
      const cut = await post(a, '/api/auth/register', {}, own);
      const back = await post(b, '/api/auth/login', {}, own);
      for (const res of [cut, back]) {
        expect(await statuses(tokenOf(res), [a, b])).toEqual([200, 200, 200, 200]);
      }
      // Cut: every LISTEN connection of both instances.
      await db.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [before]);
      expect((await post(b, '/api/auth/logout', { cookie: cookieOf(cut)! })).status).toBe(204);
      expect(await statuses(tokenOf(cut), [a, b])).toEqual([401, 401, 401, 401]);
      // Back: the instances listen again (new connections), and still refuse and accept right.
      await eventually(
        async () => (await listeners()).filter((pid) => !before.includes(pid)).length >= 2,
      );
      expect(await statuses(tokenOf(back), [a, b])).toEqual([200, 200, 200, 200]);
      expect((await post(a, '/api/auth/logout', { cookie: cookieOf(back)! })).status).toBe(204);
      expect(await statuses(tokenOf(back), [b, a])).toEqual([401, 401, 401, 401]);
      expect(await statuses(tokenOf(cut), [a, b])).toEqual([401, 401, 401, 401]);
    } finally {
      await db.end();
    }
  });

  it('the same refresh token through two instances at once: one rotation, one grace answer', async () => {
    const login = await post(a, '/api/auth/login', {}, { email, password });
    const cookie = cookieOf(login)!;
    for (let round = 0; round < 3; round++) {
      const answers = await Promise.all([
        post(a, '/api/auth/refresh', { cookie }),
        post(b, '/api/auth/refresh', { cookie }),
      ]);
      if (round === 0) {
        expect(answers.map((r) => r.status)).toEqual([200, 200]);
        expect(answers.filter((r) => cookieOf(r))).toHaveLength(1);
        const sid = sidOf(tokenOf(login));
        for (const res of answers) expect(sidOf(tokenOf(res))).toBe(sid);
        for (const res of answers)
          expect(await statuses(tokenOf(res), [a, b])).toEqual([200, 200, 200, 200]);
      } else {
        // Within the grace window the spent token keeps getting access tokens, no rotation.
        expect(answers.map((r) => r.status)).toEqual([200, 200]);
        expect(answers.filter((r) => cookieOf(r))).toHaveLength(0);
      }
    }
  });

  it('counts login attempts of one account on every instance together', async () => {
    const target = `limited-${Date.now()}@example.com`;
    for (let i = 0; i < LIMIT; i++) {
      const res = await post(i % 2 ? a : b, '/api/auth/login', {}, { email: target, password });
      expect(res.status).toBe(401);
    }
    const limitedA = await post(a, '/api/auth/login', {}, { email: target, password });
    const limitedB = await post(b, '/api/auth/login', {}, { email: target, password });
    expect([limitedA.status, limitedB.status]).toEqual([429, 429]);
    expect(Number(limitedA.headers['retry-after'])).toBeGreaterThan(0);
  });
});
