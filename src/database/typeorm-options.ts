import type { ClientConfig } from 'pg';
import type { DataSourceOptions } from 'typeorm';
import type { DatabaseSection } from '../config/configuration';
import { entities } from './entities';
import { migrations } from './migrations';
import { SnakeNamingStrategy } from './snake-naming.strategy';

const APPLICATION_NAME = 'chat-backend';

/** What the connections need; the pipelined connections' count is Sql's business. */
type ConnectionSettings = Omit<
  DatabaseSection,
  'pipelineConnections' | 'heavyConnections' | 'poolSize'
>;

/**
 * TypeORM's own pool runs the migrations and the health check only: the repositories'
 * statements run on Sql's pool (DB_POOL_SIZE).
 */
const TYPEORM_POOL_SIZE = 2;

/**
 * The one place TypeORM options are built: the app (TypeOrmModule.forRootAsync) and the
 * migration CLI (ormconfig.ts) both call it, so they cannot drift apart.
 */
export function buildTypeOrmOptions(db: ConnectionSettings): DataSourceOptions {
  return {
    type: 'postgres',
    url: db.url,
    entities,
    migrations,
    migrationsRun: true,
    migrationsTransactionMode: 'each',
    synchronize: false,
    namingStrategy: new SnakeNamingStrategy(),
    // gen_random_uuid() is built into PostgreSQL 13+; uuid-ossp would need an extension.
    uuidExtension: 'pgcrypto',
    applicationName: APPLICATION_NAME,
    poolSize: TYPEORM_POOL_SIZE,
    connectTimeoutMS: db.connectTimeoutMs,
    extra: {
      ...pgConnectionOptions(db),
      // node-postgres Pool options.
      max: TYPEORM_POOL_SIZE,
      idleTimeoutMillis: 30_000,
    },
  };
}

/**
 * What every connection of the app shares, the pool's and the pipelined ones (Sql): fail fast
 * instead of waiting forever when the database is down or overloaded, and never leave a
 * transaction holding locks.
 */
export function pgConnectionOptions(db: ConnectionSettings): ClientConfig {
  return {
    connectionString: db.url,
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: db.connectTimeoutMs,
    statement_timeout: db.statementTimeoutMs,
    query_timeout: db.statementTimeoutMs + 1000,
    idle_in_transaction_session_timeout: db.statementTimeoutMs * 2,
    keepAlive: true,
  };
}
