import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import type { AppConfig } from '../config/configuration';
import { ISO_TIMESTAMP_TYPES } from './iso-timestamps';
import { HeavyGate } from './heavy-gate';
import { PipelinedConnections } from './pipelined-connections';
import { pgConnectionOptions } from './typeorm-options';

/**
 * A statement PostgreSQL parses and plans once per connection, then only executes; without a
 * name (`planEachTime`), it is planned for each execution with its actual parameters.
 */
export interface Statement {
  name?: string;
  text: string;
  /** Type parsers of its results; node-postgres' defaults when absent. */
  types?: typeof ISO_TIMESTAMP_TYPES;
  /** Always on a pooled connection, never a pipelined one (see `statement()`). */
  pooled?: boolean;
}

/** Runs statements: Sql itself (each statement its own transaction), or one transaction. */
export interface SqlRunner {
  rows<T>(statement: Statement, values: unknown[]): Promise<T[]>;
}

/**
 * Runs the hot-path statements as named prepared statements, on a few pipelined connections
 * (DB_PIPELINE_CONNECTIONS) where concurrent requests share round trips, or else on TypeORM's
 * own pool (same limits and timeouts). TypeORM cannot name statements, and its query runner
 * per call costs more than the statement itself for the small reads of this API.
 */
@Injectable()
export class Sql implements SqlRunner, OnModuleInit, OnModuleDestroy {
  private readonly pool: Pool;
  private readonly pipeline: PipelinedConnections;
  private readonly heavy: HeavyGate;
  private readonly logger = new Logger('Database');

  constructor(@InjectDataSource() dataSource: DataSource, config: ConfigService<AppConfig, true>) {
    this.pool = (dataSource.driver as unknown as { master: Pool }).master;
    const db = config.get('database', { infer: true });
    this.heavy = new HeavyGate(db.heavyConnections, db.connectTimeoutMs);
    this.pipeline = new PipelinedConnections(pgConnectionOptions(db), {
      connections: db.pipelineConnections,
      // Moving connections take overflow while a pooled one would come within the timeout.
      overflowStallMs: db.connectTimeoutMs / 2,
      // Name and code only, as for failed requests: driver messages can quote too much.
      onError: (error) => {
        const code = (error as { code?: unknown }).code;
        const suffix = typeof code === 'string' ? ` (${code})` : '';
        this.logger.warn(`Pipelined connection failed: ${error.name}${suffix}`);
      },
    });
  }

  onModuleInit(): void {
    this.pipeline.open();
  }

  async onModuleDestroy(): Promise<void> {
    await this.pipeline.close();
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

  async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
    const config = { ...statement, values };
    const pipelined = statement.pooled ? undefined : this.pipeline.query(config, this.poolFull);
    const result = await (pipelined ?? this.pool.query(config));
    return result.rows as T[];
  }

  /**
   * An expensive statement (a search) of `user`'s, on the pool, once one of this process's
   * DB_HEAVY_CONNECTIONS places is free: one user's burst of them queues there, not in front of
   * everyone's small statements in the pool, and never takes every place (see HeavyGate).
   */
  async heavyRows<T>(user: string, statement: Statement, values: unknown[]): Promise<T[]> {
    const release = await this.heavy.acquire(user);
    try {
      return (await this.pool.query({ ...statement, values })).rows as T[];
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
        rows: async <R>(statement: Statement, values: unknown[]) =>
          (await client.query({ ...statement, values })).rows as R[],
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

/**
 * Declares a named statement; names must be unique (checked at start-up). With `isoTimestamps`,
 * its timestamptz columns arrive as the API's ISO strings instead of Date objects. With
 * `planEachTime`, the statement is sent unnamed, so that PostgreSQL plans it for the values of
 * each execution: for statements whose best plan depends on them (a prepared statement may
 * switch to one generic plan for all values after five executions). With `pooled`, it always
 * runs on a pooled connection: a statement whose cost varies with the data (milliseconds for
 * one caller, a hundred for another) would hold up every statement queued behind it on a
 * pipelined connection, which PostgreSQL answers in order (and the most expensive ones run
 * through heavyRows()).
 */
const declared = new Set<string>();
export function statement(
  name: string,
  text: string,
  options: {
    isoTimestamps?: boolean;
    planEachTime?: boolean;
    pooled?: boolean;
  } = {},
): Statement {
  if (declared.has(name)) throw new Error(`Duplicate SQL statement name: ${name}`);
  declared.add(name);
  return {
    ...(!options.planEachTime && { name }),
    text: text.replace(/\s+/g, ' ').trim(),
    ...(options.isoTimestamps && { types: ISO_TIMESTAMP_TYPES }),
    ...(options.pooled && { pooled: true }),
  };
}
