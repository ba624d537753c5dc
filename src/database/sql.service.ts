import {
  Injectable,
  Logger,
  OnApplicationShutdown,
  OnModuleDestroy,
  OnModuleInit,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Pool } from 'pg';
import type { AppConfig } from '../config/configuration';
import { HeavyGate } from './heavy-gate';
import { PipelinedConnections } from './pipelined-connections';
import { queryConfig, type Statement } from './statement';
import { pgConnectionOptions } from './typeorm-options';

/** Runs statements: Sql itself (each statement its own transaction), or one transaction. */
export interface SqlRunner {
  rows<P extends object, R>(statement: Statement<P, R>, params: P): Promise<R[]>;
}

/**
 * Runs the repositories' statements as named prepared statements, on a few pipelined
 * connections (DB_PIPELINE_CONNECTIONS) where concurrent requests share round trips, or else on
 * this pool of DB_POOL_SIZE connections, which the application owns (TypeORM keeps a small pool
 * of its own for migrations and the health check). TypeORM cannot name statements, and its
 * query runner per call costs more than the statement itself for the small reads of this API.
 */
@Injectable()
export class Sql implements SqlRunner, OnModuleInit, OnModuleDestroy, OnApplicationShutdown {
  private readonly pool: Pool;
  private readonly pipeline: PipelinedConnections;
  private readonly heavy: HeavyGate;
  private readonly logger = new Logger('Database');

  constructor(config: ConfigService<AppConfig, true>) {
    const db = config.get('database', { infer: true });
    this.pool = new Pool({
      ...pgConnectionOptions(db),
      max: db.poolSize,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection's error (the server restarted) only drops it; without a listener it
    // would crash the process.
    this.pool.on('error', (error) => this.logConnectionError('Pooled', error));
    this.heavy = new HeavyGate(db.heavyConnections, db.connectTimeoutMs);
    this.pipeline = new PipelinedConnections(pgConnectionOptions(db), {
      connections: db.pipelineConnections,
      // Moving connections take overflow while a pooled one would come within the timeout.
      overflowStallMs: db.connectTimeoutMs / 2,
      // Name and code only, as for failed requests: driver messages can quote too much.
      onError: (error) => this.logConnectionError('Pipelined', error),
    });
  }

  /** Name and code only, as for failed requests: driver messages can quote too much. */
  private logConnectionError(kind: string, error: Error): void {
    const code = (error as { code?: unknown }).code;
    const suffix = typeof code === 'string' ? ` (${code})` : '';
    this.logger.warn(`${kind} connection failed: ${error.name}${suffix}`);
  }

  onModuleInit(): void {
    this.pipeline.open();
  }

  async onModuleDestroy(): Promise<void> {
    await this.pipeline.close();
  }

  /** After every module's destroy hook, which may still store what it holds. */
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Resolves once no statement has run for two checks in a row: requests whose clients already
   * hung up are still being handled after the HTTP server has closed, and must finish before
   * the pool is closed under them.
   */
  async settle(intervalMs = 20): Promise<void> {
    const busy = () =>
      this.pool.totalCount > this.pool.idleCount ||
      this.pool.waitingCount > 0 ||
      this.pipeline.inFlight > 0;
    for (let quiet = 0; quiet < 2;) {
      quiet = busy() ? 0 : quiet + 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** No idle connection in the pool, and no room for another: a statement would queue. */
  private readonly poolFull = (): boolean =>
    this.pool.waitingCount > 0 ||
    (this.pool.idleCount === 0 && this.pool.totalCount >= (this.pool.options.max ?? 10));

  async rows<P extends object, R>(statement: Statement<P, R>, params: P): Promise<R[]> {
    const config = queryConfig(statement, params);
    const pipelined = statement.options.pooled
      ? undefined
      : this.pipeline.query(config, this.poolFull);
    const result = await (pipelined ?? this.pool.query(config));
    return result.rows as R[];
  }

  /**
   * An expensive statement (a search) of `user`'s, on the pool, once one of this process's
   * DB_HEAVY_CONNECTIONS places is free: one user's burst of them queues there, not in front of
   * everyone's small statements in the pool, and never takes every place (see HeavyGate).
   */
  async heavyRows<P extends object, R>(
    user: string,
    statement: Statement<P, R>,
    params: P,
  ): Promise<R[]> {
    const release = await this.heavy.acquire(user);
    try {
      return (await this.pool.query(queryConfig(statement, params))).rows as R[];
    } finally {
      release();
    }
  }

  /**
   * Runs `work` in one transaction on a connection of the pool: committed when it resolves,
   * rolled back when it throws. For what must hold a row lock across statements. Pipelined
   * connections cannot hold a transaction (the statements of other requests share them).
   */
  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await work({
        rows: async <Q extends object, R>(statement: Statement<Q, R>, params: Q) =>
          (await client.query(queryConfig(statement, params))).rows as R[],
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      // A connection that cannot even roll back is dropped rather than handed to the next request.
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw error;
    } finally {
      client.release(broken);
    }
  }
}
