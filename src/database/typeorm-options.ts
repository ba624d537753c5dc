import type { DataSourceOptions } from 'typeorm';
import type { DatabaseSection } from '../config/configuration';
import { entities } from './entities';
import { migrations } from './migrations';
import { SnakeNamingStrategy } from './snake-naming.strategy';

/**
 * The one place TypeORM options are built: the app (TypeOrmModule.forRootAsync) and the
 * migration CLI (ormconfig.ts) both call it, so they cannot drift apart.
 */
export function buildTypeOrmOptions(db: DatabaseSection): DataSourceOptions {
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
    applicationName: 'chat-backend',
    poolSize: db.poolSize,
    connectTimeoutMS: db.connectTimeoutMs,
    extra: {
      // node-postgres Pool options: fail fast instead of queueing forever when the database
      // is down or overloaded, and never leave a transaction holding locks.
      max: db.poolSize,
      connectionTimeoutMillis: db.connectTimeoutMs,
      idleTimeoutMillis: 30_000,
      statement_timeout: db.statementTimeoutMs,
      query_timeout: db.statementTimeoutMs + 1000,
      idle_in_transaction_session_timeout: db.statementTimeoutMs * 2,
      keepAlive: true,
    },
  };
}
