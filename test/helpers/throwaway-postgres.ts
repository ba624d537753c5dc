import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres';
import { freePort } from './net';

export interface ThrowawayPostgres {
  /** Connection string of the `postgres` maintenance database. */
  adminUrl: string;
  /** Stops the server and removes its cluster; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * The app's embedded PostgreSQL on a fresh cluster in a temp directory and a free port, not
 * durable (nothing in it must survive a crash). For the e2e suite and the benchmarks.
 */
export async function startThrowawayPostgres(prefix: string): Promise<ThrowawayPostgres> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    const pg = await startEmbeddedPostgres({
      dataDir: join(dir, 'pg'),
      port: await freePort(),
      database: 'postgres',
      durable: false,
    });
    return {
      adminUrl: pg.url,
      async stop() {
        await pg.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
