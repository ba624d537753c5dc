/**
 * The bench database: a fresh `bench_<timestamp>` database on DATABASE_URL's server, or on a
 * throw-away embedded cluster when DATABASE_URL is unset. Dropped (and the cluster stopped) at
 * the end, whatever happened.
 */
import { startThrowawayPostgres, ThrowawayPostgres } from '../../test/helpers/throwaway-postgres';
import { pg, PgClient } from './deps';
import { redactUrl, withUrl } from './net';

export interface BenchDatabase {
  /** Connection string of the bench database (direct, not through a counting proxy). */
  url: string;
  name: string;
  embedded: boolean;
  serverVersion: string;
  settings: Record<string, string>;
  /** Drops the database (unless kept) and stops the embedded cluster, if any. */
  dispose(keep: boolean): Promise<void>;
}

async function withClient<T>(url: string, fn: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-harness' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function createBenchDatabase(databaseUrl: string | undefined): Promise<BenchDatabase> {
  let cluster: ThrowawayPostgres | undefined;
  let adminUrl = databaseUrl;
  if (adminUrl === undefined) {
    cluster = await startThrowawayPostgres('chat-bench-pg-');
    adminUrl = cluster.adminUrl;
  }
  const admin = adminUrl;

  const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14);
  const name = `bench_${stamp}_${process.pid}`;
  try {
    const info = await withClient(admin, async (client) => {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      const { rows } = await client.query<{ name: string; setting: string }>(
        `SELECT name, setting FROM pg_settings
         WHERE name IN ('server_version', 'shared_buffers', 'max_connections', 'fsync',
                        'synchronous_commit', 'work_mem', 'shared_preload_libraries')`,
      );
      return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
    });
    return {
      url: withUrl(admin, { database: name }),
      name,
      embedded: cluster !== undefined,
      serverVersion: info.server_version ?? 'unknown',
      settings: info,
      async dispose(keep: boolean) {
        if (cluster) {
          await cluster.stop(); // the database goes with the whole throw-away cluster
          return;
        }
        if (keep) {
          console.log(`kept database: ${redactUrl(withUrl(admin, { database: name }))}`);
          return;
        }
        await withClient(admin, async (client) => {
          // WITH (FORCE) (PostgreSQL 13+) ends stray sessions, e.g. of a server killed mid-run.
          await client
            .query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`)
            .catch(() => client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)}`));
        }).catch((err: unknown) =>
          console.error(`could not drop database ${name}: ${String(err)}`),
        );
      },
    };
  } catch (err) {
    await cluster?.stop();
    throw err;
  }
}
