import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createTestDatabase } from '../helpers/database';
import {
  Answer,
  Child,
  destroyAgent,
  fetch,
  startServer,
  waitForHealth,
} from '../helpers/server-process';
import { TEST_JWT_SECRET } from '../helpers/app';
import { freePort } from '../helpers/net';

/**
 * Two real app processes (src/main.ts) on one PostgreSQL database: a key is one key whichever
 * instance a retry reaches, and it outlives the process that stored it.
 */
describe('Idempotency-Key across two app processes on one database (e2e)', () => {
  let database: { url: string; drop(): Promise<void> };
  let db: Client;
  let dataDir: string;
  const servers: { base: string; env: Record<string, string>; child: Child }[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    dataDir = await mkdtemp(join(tmpdir(), 'chat-idempotency-'));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const env = {
        NODE_ENV: 'test',
        PORT: String(port),
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        JWT_SECRET: TEST_JWT_SECRET,
        AUTH_RATE_LIMIT: '1000',
        LOG_LEVEL: 'warn',
      };
      servers.push({ base: `http://127.0.0.1:${port}`, env, child: startServer(env) });
    }
    await Promise.all(servers.map((s) => waitForHealth(s.base, s.child)));
  }, 90_000);

  afterAll(async () => {
    for (const server of servers) {
      if (server.child.process.exitCode === null) server.child.process.kill('SIGINT');
      await server.child.exited;
    }
    destroyAgent();
    await db.end();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  it('one message for 20 concurrent requests spread over both; retries on either get its answer, also after a restart', async () => {
    const [a, b] = servers;
    const register = await fetch(`${a.base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `two-${randomUUID()}@example.com`, password: 'two instances' }),
    });
    expect(register.status).toBe(201);
    const token = register.json<{ accessToken: string }>().accessToken;
    const headers = (key: string) => ({
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      'idempotency-key': key,
    });
    const room = await fetch(`${b.base}/api/chat-rooms`, {
      method: 'POST',
      headers: headers(randomUUID()),
      body: '{"title":"two"}',
    });
    expect(room.status).toBe(201);
    const roomId = room.json<{ id: string }>().id;

    const key = randomUUID();
    const post = (base: string, content = 'exactly once'): Promise<Answer> =>
      fetch(`${base}/api/chat-rooms/${roomId}/messages`, {
        method: 'POST',
        headers: headers(key),
        body: JSON.stringify({ content }),
      });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(servers[i % 2].base)),
    );
    const created = answers.filter((x) => x.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) {
      if (answer.status !== 201)
        expect([answer.status, answer.json()]).toEqual([409, expect.any(Object)]);
      else expect(answer.text).toBe(created[0].text);
    }
    const count = async () =>
      (
        await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM messages WHERE chat_room_id = $1',
          [roomId],
        )
      ).rows[0].n;
    expect(await count()).toBe(1);

    for (const server of servers) {
      const retry = await post(server.base);
      expect(retry.status).toBe(201);
      expect(retry.text).toBe(created[0].text);
      expect(retry.headers['idempotent-replayed']).toBe('true');
      expect((await post(server.base, 'something else')).status).toBe(422);
    }

    // The instance that answered is gone and back: the key is in PostgreSQL, not in a process.
    a.child.process.kill('SIGTERM');
    expect(await a.child.exited).toBe(0);
    a.child = startServer(a.env);
    await waitForHealth(a.base, a.child);
    const afterRestart = await post(a.base);
    expect(afterRestart.status).toBe(201);
    expect(afterRestart.text).toBe(created[0].text);
    expect(await count()).toBe(1);
  }, 90_000);
});
