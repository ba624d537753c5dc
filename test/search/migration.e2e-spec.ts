import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { migrations } from '../../src/database/migrations';
import { buildTypeOrmOptions } from '../../src/database/typeorm-options';
import { adminQuery, adminUrl, withDatabase } from '../helpers/database';

async function migrate(url: string, upTo: number): Promise<void> {
  const dataSource = new DataSource({
    ...buildTypeOrmOptions({
      url,
      connectTimeoutMs: 5000,
      statementTimeoutMs: 30_000,
    }),
    migrations: migrations.slice(0, upTo),
    migrationsRun: false,
  });
  await dataSource.initialize();
  await dataSource.runMigrations();
  await dataSource.destroy();
}

describe('migration MessageSearch on a database with messages (e2e)', () => {
  jest.setTimeout(60_000);

  it('gives existing messages their owner, and later inserts without one get it too', async () => {
    const name = `chat_e2e_m_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = withDatabase(adminUrl(), name);
    const db = new Client({ connectionString: url });
    try {
      const before = migrations.findIndex((m) => m.name === 'MessageSearch1796200000000');
      expect(before).toBeGreaterThan(0);
      await migrate(url, before);
      await db.connect();
      const { rows: users } = await db.query<{ id: string }>(
        `INSERT INTO users (email, password_hash) VALUES ('a@x.io', 'h'), ('b@x.io', 'h') RETURNING id`,
      );
      const { rows: rooms } = await db.query<{ id: string }>(
        `INSERT INTO chat_rooms (title, owner_id) VALUES ('A', $1), ('B', $2) RETURNING id`,
        [users[0].id, users[1].id],
      );
      await db.query(
        `INSERT INTO messages (chat_room_id, role, content) VALUES ($1, 'user', 'old 서울에서'), ($2, 'user', 'old other')`,
        [rooms[0].id, rooms[1].id],
      );

      await migrate(url, migrations.length);
      const owners = await db.query<{ content: string; owner: string }>(
        `SELECT content, owner_id AS owner FROM messages ORDER BY content`,
      );
      expect(owners.rows).toEqual([
        { content: 'old other', owner: users[1].id },
        { content: 'old 서울에서', owner: users[0].id },
      ]);
      // A writer that does not know the column (bulk loads, older code): the trigger fills it.
      await db.query(
        `INSERT INTO messages (chat_room_id, role, content) VALUES ($1, 'user', 'new one')`,
        [rooms[1].id],
      );
      const { rows } = await db.query<{ owner: string }>(
        `SELECT owner_id AS owner FROM messages WHERE content = 'new one'`,
      );
      expect(rows[0].owner).toBe(users[1].id);
    } finally {
      await db.end().catch(() => undefined);
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
