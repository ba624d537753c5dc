import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { eventually } from './eventually';

export const TEMPLATE_DB = 'chat_e2e_template';

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export function adminUrl(): string {
  const url = process.env.E2E_ADMIN_DATABASE_URL;
  if (!url) throw new Error('E2E_ADMIN_DATABASE_URL is unset: run e2e tests through jest');
  return url;
}

async function admin<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Runs one statement as the admin (CREATE/DROP DATABASE, settings of a database). */
export async function adminQuery(sql: string): Promise<void> {
  await admin((c) => c.query(sql));
}

/** A fresh, migrated database cloned from the template: each test file gets its own. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `chat_e2e_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`));
  return {
    url: withDatabase(adminUrl(), name),
    drop: () =>
      admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * Resolves once `count` sessions of the database at `url` wait for a lock (a row lock, an
 * advisory lock): the statements a test holds back are then all queued behind its lock. Asked
 * on a connection of its own: pg_stat_activity is read once per transaction, so the session
 * that holds the lock in a transaction would see no one arrive.
 */
export async function waitForLockWaiters(url: string, count: number): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await eventually(
      async () => {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        );
        return rows[0].n >= count;
      },
      { intervalMs: 10, message: `${count} session(s) waiting for a lock` },
    );
  } finally {
    await client.end();
  }
}
