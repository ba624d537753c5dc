import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { config as loadDotenv } from 'dotenv';
import { DataSource } from 'typeorm';
import { validateEnv } from './src/config/env.validation';
import { buildTypeOrmOptions } from './src/database/typeorm-options';

// The DataSource of the TypeORM CLI (`npm run migration:*`), built by the same function as the
// app's. TypeORM 1.x no longer reads .env itself.
loadDotenv({ quiet: true });
const env = validateEnv(process.env);

/** Without DATABASE_URL: the embedded development cluster, which `npm start` keeps running. */
function embeddedUrl(): string {
  const passwordFile = join(resolve(env.DATA_DIR), 'pg-password');
  if (!existsSync(passwordFile)) {
    throw new Error('Set DATABASE_URL, or run `npm start` once so the embedded database exists');
  }
  const password = encodeURIComponent(readFileSync(passwordFile, 'utf8').trim());
  return `postgres://postgres:${password}@127.0.0.1:${env.EMBEDDED_PG_PORT}/chat`;
}

export default new DataSource({
  ...buildTypeOrmOptions({
    url: env.DATABASE_URL ?? embeddedUrl(),
    connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: 60_000,
  }),
  migrationsRun: false,
});
