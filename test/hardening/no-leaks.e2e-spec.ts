import type { Response } from 'supertest';
import { createRoom, postMessage } from '../factories/chat';
import { registerUser, uniqueEmail } from '../factories/users';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../helpers/app';
import { expectNoLeaks, LogCapture } from '../helpers/leaks';
import { signJwt } from '../helpers/tokens';

/**
 * A workload touching every kind of answer — successes, 400, 401, 404, 409, 413 — with the
 * app's logs captured, then scanned with every response for secrets, hashes, SQL and stacks.
 */
describe('no secrets or internals in responses and logs (e2e)', () => {
  let t: TestApp;
  const logs = new LogCapture();
  const responses: Response[] = [];
  const keep = (res: Response) => (responses.push(res), res);

  beforeAll(async () => {
    t = await startTestApp({}, { logStream: logs.stream });
  });
  afterAll(() => t.close());

  it('keeps every secret out of every response body and log line', async () => {
    const password = 'hunter2-very-secret';
    const user = await registerUser(t.http, { password });
    const { rows } = await t.db.query<{ password_hash: string }>(
      'SELECT password_hash FROM users WHERE id = $1',
      [user.id],
    );
    const hash = rows[0].password_hash;

    keep(await t.http.post('/api/auth/login').send({ email: user.email, password }));
    keep(
      await t.http.post('/api/auth/login').send({ email: user.email, password: 'wrong-password' }),
    );
    keep(await t.http.post('/api/auth/register').send({ email: user.email, password }));
    keep(await t.http.post('/api/auth/register').send({ email: 'bad', password, role: 'admin' }));
    keep(
      await t.http
        .post('/api/auth/login')
        .send({ email: uniqueEmail(), password: 'x'.repeat(300_000) }),
    );
    keep(await t.http.get('/api/users/me').set(user.auth));
    keep(await t.http.get('/api/users/me').set('Authorization', `Bearer ${user.token}x`));
    const forged = signJwt({ sub: user.id, exp: 1 }, { secret: TEST_JWT_SECRET });
    keep(await t.http.get('/api/users/me').set('Authorization', `Bearer ${forged}`));

    const room = await createRoom(t.http, user, 'Leak test');
    await postMessage(t.http, user, room.id, 'hello');
    keep(await t.http.get(`/api/chat-rooms/${room.id}`).set(user.auth));
    keep(await t.http.get('/api/chat-rooms?include=messages').set(user.auth));
    keep(await t.http.get('/api/chat-rooms/00000000-0000-4000-8000-000000000000').set(user.auth));
    keep(await t.http.get(`/api/chat-rooms/${room.id}/messages?before=${room.id}`).set(user.auth));
    keep(
      await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(user.auth)
        .send({ content: 'a\u0000b' }),
    );
    keep(await t.http.get('/api/chat-rooms/not-a-uuid').set(user.auth));
    keep(
      await t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .set('content-type', 'application/json')
        .send('{"title":'),
    );

    const statuses = new Set(responses.map((r) => r.status));
    for (const status of [200, 400, 401, 404, 409, 413]) expect(statuses).toContain(status);
    expect(logs.lines.length).toBeGreaterThan(responses.length);

    // Tokens are the point of a login answer; everywhere else they are a leak.
    const authAnswers = responses.filter((r) => typeof r.body?.accessToken === 'string');
    const others = responses.filter((r) => !authAnswers.includes(r));
    expectNoLeaks(authAnswers.map((r) => r.text).join('\n'), [password, hash, TEST_JWT_SECRET]);
    expectNoLeaks(others.map((r) => r.text).join('\n'), [
      password,
      hash,
      TEST_JWT_SECRET,
      user.token,
      forged,
    ]);
    expectNoLeaks(logs.text, [password, hash, TEST_JWT_SECRET, user.token, forged]);
  });

  it('the scanner itself catches each kind of leak', () => {
    expect(() => expectNoLeaks('{"x":"$argon2id$v=19$m=1"}', [])).toThrow(/hash/);
    expect(() => expectNoLeaks('query: SELECT "id" FROM users', [])).toThrow(/SQL/);
    expect(() => expectNoLeaks('Error: x\n    at Foo.bar (/app/x.js:1:1)', [])).toThrow(/stack/);
    expect(() => expectNoLeaks('duplicate key value violates unique constraint', [])).toThrow(
      /PostgreSQL/,
    );
    expect(() => expectNoLeaks('connect ECONNREFUSED 127.0.0.1:5432', [])).toThrow(/driver/);
    expect(() => expectNoLeaks('token abcdefghijk', ['abcdefghijk'])).toThrow(/secret/);
  });
});
