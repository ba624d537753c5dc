import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EmbeddedPostgresError, REMEDY } from './errors';

/** A live pid that is not a PostgreSQL (the pid was reused) must never be signalled. */
function isPostgres(pid: number): boolean {
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync('/proc')) return true;
  try {
    return readFileSync(cmdline, 'utf8').includes('postgres');
  } catch {
    return false;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * After a `kill -9` of the app its PostgreSQL keeps running and holds postmaster.pid. Stop
 * such an orphan (fast shutdown: it is ours, its clients are gone) or clear a pid file nobody
 * owns any more.
 */
export async function clearStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && isPostgres(pid)) {
    process.kill(pid, 'SIGINT');
    for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
    if (isAlive(pid)) {
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL: an earlier server (pid ${pid}) still runs on ${dataDir} and did not stop: stop it (kill ${pid}), ${REMEDY}`,
      );
    }
  }
  await rm(pidFile, { force: true });
}
