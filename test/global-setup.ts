import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { buildTypeOrmOptions } from '../src/database/typeorm-options';
import { TEMPLATE_DB, withDatabase } from './helpers/database';
import { startThrowawayPostgres } from './helpers/throwaway-postgres';

/**
 * Runs once before the e2e suite: a PostgreSQL (DATABASE_URL, or a throwaway embedded cluster)
 * and a migrated template database that each test file clones for a clean state of its own.
 */
export default async function globalSetup(): Promise<void> {
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    const pg = await startThrowawayPostgres('chat-e2e-');
    adminUrl = pg.adminUrl;
    globalThis.__E2E_TEARDOWN__ = () => pg.stop();
  }
  process.env.E2E_ADMIN_DATABASE_URL = adminUrl;

  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const dataSource = new DataSource({
    ...buildTypeOrmOptions({
      url: withDatabase(adminUrl, TEMPLATE_DB),
      connectTimeoutMs: 5000,
      statementTimeoutMs: 30_000,
    }),
    migrationsRun: false,
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.destroy();
}
