import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { buildTypeOrmOptions } from '../../src/database/typeorm-options';
import { adminQuery, adminUrl, createTestDatabase, withDatabase } from '../helpers/database';

/**
 * The entities are the schema's truth: what the migrations make (the template database of
 * global-setup, migrated from empty) is what the entities declare. Run alone with
 * `npm run migration:check`; when it fails, fix the entity, or write the migration that
 * `npm run migration:generate` proposes.
 */
describe('entities and migrations (e2e)', () => {
  let migrated: { url: string; drop(): Promise<void> };
  let dataSource: DataSource;

  const dataSourceOn = (url: string) =>
    new DataSource({
      ...buildTypeOrmOptions({
        url,
        connectTimeoutMs: 5000,
        statementTimeoutMs: 30_000,
      }),
      migrationsRun: false,
    });

  beforeAll(async () => {
    migrated = await createTestDatabase();
    dataSource = await dataSourceOn(migrated.url).initialize();
  });
  afterAll(async () => {
    await dataSource?.destroy();
    await migrated?.drop();
  });

  const tableNames = () => dataSource.entityMetadatas.map((m) => m.tableName).sort();

  it('has no migration left to run', async () => {
    expect(await dataSource.showMigrations()).toBe(false);
  });

  it('has an entity for every table, and a table for every entity', async () => {
    const rows = await dataSource.query<{ name: string }[]>(
      `SELECT table_name AS name FROM information_schema.tables
       WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'migrations'
       ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toEqual(tableNames());
  });

  it('gives TypeORM nothing to change (what migration:generate would write)', async () => {
    const { upQueries } = await dataSource.driver.createSchemaBuilder().log();
    expect(upQueries.map((q) => q.query.trim())).toEqual([]);
  });

  it('has the indexes TypeORM cannot build (declared with synchronize: false)', async () => {
    const declared = dataSource.entityMetadatas
      .flatMap((m) => m.indices.filter((i) => !i.synchronize).map((i) => i.name))
      .sort();
    const rows = await dataSource.query<{ name: string }[]>(
      `SELECT indexname AS name FROM pg_indexes WHERE schemaname = 'public' AND indexname = ANY($1)
       ORDER BY 1`,
      [declared],
    );
    expect(rows.map((r) => r.name)).toEqual(declared);
    expect(declared.length).toBeGreaterThan(0);
  });

  /**
   * TypeORM's diff compares indexes by name, columns as a set and uniqueness only, and checks by
   * name only: a WHERE, a column order or a check expression written differently in an entity
   * goes unseen. So the entities are also synchronised into an empty database and both
   * catalogues compared (the indexes of synchronize: false, triggers and functions aside).
   */
  it('declares what the diff misses: index column order and WHERE, checks, defaults', async () => {
    const name = `chat_e2e_sync_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    try {
      const synced = await dataSourceOn(withDatabase(adminUrl(), name)).initialize();
      try {
        await synced.synchronize();
      } finally {
        await synced.destroy();
      }
      const unsynchronised = dataSource.entityMetadatas.flatMap((m) =>
        m.indices.filter((i) => !i.synchronize).map((i) => i.name),
      );
      const fromMigrations = await catalogue(migrated.url, tableNames(), unsynchronised);
      const fromEntities = await catalogue(withDatabase(adminUrl(), name), tableNames(), []);
      expect(fromEntities).toEqual(fromMigrations);
    } finally {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});

/** Columns, constraints and indexes of `tables`, as PostgreSQL prints them. */
async function catalogue(url: string, tables: string[], skipIndexes: string[]) {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query<{ line: string }>(
      `SELECT format('%s.%s %s%s%s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                     CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                     -- TypeORM quotes numbers: its bigint 0 reads '0'::bigint, a migration's 0.
                     ' DEFAULT ' || regexp_replace(pg_get_expr(d.adbin, d.adrelid),
                                                   '^''(-?[0-9.]+)''::(bigint|numeric)$', '\\1'))
         AS line
       FROM pg_attribute a
       JOIN pg_class c ON c.oid = a.attrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE c.relname = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY 1`,
      [tables],
    );
    const constraints = await client.query<{ line: string }>(
      `SELECT format('%s %s %s', c.relname, k.conname, pg_get_constraintdef(k.oid)) AS line
       FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
       WHERE c.relname = ANY($1)
       ORDER BY 1`,
      [tables],
    );
    const indexes = await client.query<{ line: string }>(
      `SELECT indexdef AS line FROM pg_indexes
       WHERE schemaname = 'public' AND tablename = ANY($1) AND NOT indexname = ANY($2)
       ORDER BY indexname`,
      [tables, skipIndexes],
    );
    return {
      columns: columns.rows.map((r) => r.line),
      constraints: constraints.rows.map((r) => r.line),
      indexes: indexes.rows.map((r) => r.line),
    };
  } finally {
    await client.end();
  }
}
