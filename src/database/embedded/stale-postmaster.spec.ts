import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearStalePostmaster } from './stale-postmaster';

/** A child that lives until killed; `postgres` in its command line when it plays an orphan. */
function lingering(args: string[]): { child: ChildProcess; exited: Promise<unknown> } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], {
    stdio: 'ignore',
  });
  return { child, exited: new Promise((done) => child.once('exit', done)) };
}

describe('clearStalePostmaster', () => {
  let dataDir: string;
  const pidFile = () => join(dataDir, 'postmaster.pid');
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'chat-stale-pid-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('removes a pid file whose process is gone', async () => {
    const { child, exited } = lingering([]);
    child.kill('SIGKILL');
    await exited;
    await writeFile(pidFile(), `${child.pid}\n${dataDir}\n`);
    await clearStalePostmaster(dataDir);
    expect(existsSync(pidFile())).toBe(false);
  });

  it('never signals a live process that is not a PostgreSQL (a reused pid)', async () => {
    const { child, exited } = lingering([]);
    try {
      await writeFile(pidFile(), `${child.pid}\n${dataDir}\n`);
      await clearStalePostmaster(dataDir);
      expect(existsSync(pidFile())).toBe(false);
      expect(child.exitCode).toBeNull();
      expect(child.signalCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('stops an orphaned server left by a kill -9 of the app, then clears its pid file', async () => {
    const { child, exited } = lingering(['postgres']);
    await writeFile(pidFile(), `${child.pid}\n${dataDir}\n`);
    await clearStalePostmaster(dataDir);
    await exited;
    expect(child.signalCode).toBe('SIGINT');
    expect(existsSync(pidFile())).toBe(false);
  });
});
