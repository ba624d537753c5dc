import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expectNoLeaks } from '../helpers/leaks';
import {
  destroyAgent,
  fetch,
  removeDataDir,
  startServer,
  waitForHealth,
} from '../helpers/server-process';
import { eventually } from '../helpers/eventually';
import { freePort } from '../helpers/net';

const SHUTDOWN_TIMEOUT_MS = 10_000;

describe('graceful shutdown of the real process (e2e)', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let base: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'chat-shutdown-'));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    env = {
      NODE_ENV: 'development',
      PORT: String(port),
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      AUTH_RATE_LIMIT: '1000',
      LOG_LEVEL: 'info',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    };
  });
  afterAll(async () => {
    destroyAgent();
    await removeDataDir(dataDir);
  });

  it('on SIGTERM under load: answers in-flight requests, keeps every 201, stops PostgreSQL, exits 0', async () => {
    let server = startServer(env);
    await waitForHealth(base, server);

    const password = 'shutdown-password-1';
    const register = await fetch(`${base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'shutdown@example.com', password }),
    });
    expect(register.status).toBe(201);
    const { accessToken } = register.json<{ accessToken: string }>();
    const auth = { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' };
    const room = (
      await fetch(`${base}/api/chat-rooms`, { method: 'POST', headers: auth, body: '{}' })
    ).json<{ id: string }>();

    const acknowledged: string[] = [];
    const outcomes: string[] = [];
    let running = true;
    const worker = async (w: number) => {
      for (let i = 0; running; i++) {
        try {
          const res = await fetch(`${base}/api/chat-rooms/${room.id}/messages`, {
            method: 'POST',
            headers: auth,
            body: JSON.stringify({ content: `load ${w}.${i}` }),
          });
          outcomes.push(String(res.status));
          if (res.status === 201) acknowledged.push(res.json<{ id: string }>().id);
        } catch {
          outcomes.push('refused'); // the listener is closed: new connections fail
          await sleep(20); // the load's own pace while nothing listens
        }
      }
    };
    const workers = Array.from({ length: 16 }, (_, w) => worker(w));
    // SIGTERM under load: writes are being acknowledged, and 16 more are in flight.
    await eventually(() => acknowledged.length >= 32, {
      timeoutMs: 30_000,
      message: 'writes acknowledged before SIGTERM',
    });
    const pidFile = join(dataDir, 'pg', 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(true);

    server.process.kill('SIGTERM');
    const code = await Promise.race([
      server.exited,
      sleep(SHUTDOWN_TIMEOUT_MS + 5000, 'hung', { ref: false }),
    ]);
    running = false;
    await Promise.all(workers);

    expect(code).toBe(0);
    expect(existsSync(pidFile)).toBe(false); // PostgreSQL shut down cleanly with the app
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(outcomes.filter((o) => !['201', '503', 'refused'].includes(o))).toEqual([]);
    expect(outcomes).toContain('refused');
    expect(server.output.join('')).toContain('SIGTERM received');
    expectNoLeaks(server.output.join(''), [password, accessToken]);

    // Start again on the same data: every acknowledged message is there.
    server = startServer(env);
    await waitForHealth(base, server);
    const stored = new Set<string>();
    let before = '';
    for (;;) {
      const res = await fetch(`${base}/api/chat-rooms/${room.id}/messages?limit=200${before}`, {
        headers: auth,
      });
      const page = res.json<{ items: { id: string }[]; hasMore: boolean }>();
      page.items.forEach((m) => stored.add(m.id));
      if (!page.hasMore) break;
      before = `&before=${page.items[0].id}`;
    }
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
    server.process.kill('SIGINT');
    expect(await server.exited).toBe(0);
  }, 120_000);
});
