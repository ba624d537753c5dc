import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { ISO_TIMESTAMP_TYPES } from './iso-timestamps';

/** A statement PostgreSQL parses and plans once per connection, then only executes. */
export interface Statement {
  name: string;
  text: string;
  /** Type parsers of its results; node-postgres' defaults when absent. */
  types?: typeof ISO_TIMESTAMP_TYPES;
}

/**
 * Runs the hot-path statements as named prepared statements on TypeORM's own pool (same
 * connections, limits and timeouts). TypeORM cannot name statements, and its query runner
 * per call costs more than the statement itself for the small reads of this API.
 */
@Injectable()
export class Sql {
  private readonly pool: Pool;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.pool = (dataSource.driver as unknown as { master: Pool }).master;
  }

  /**
   * Resolves once no statement has run for two checks in a row: requests whose clients already
   * hung up are still being handled after the HTTP server has closed, and must finish before
   * the pool is closed under them.
   */
  async settle(intervalMs = 20): Promise<void> {
    const busy = () => this.pool.totalCount > this.pool.idleCount || this.pool.waitingCount > 0;
    for (let quiet = 0; quiet < 2;) {
      quiet = busy() ? 0 : quiet + 1;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  async rows<T>(statement: Statement, values: unknown[]): Promise<T[]> {
    const result = await this.pool.query({ ...statement, values });
    return result.rows as T[];
  }
}

/**
 * Declares a named statement; names must be unique (checked at start-up). With `isoTimestamps`,
 * its timestamptz columns arrive as the API's ISO strings instead of Date objects.
 */
const declared = new Set<string>();
export function statement(
  name: string,
  text: string,
  options: { isoTimestamps?: boolean } = {},
): Statement {
  if (declared.has(name)) throw new Error(`Duplicate SQL statement name: ${name}`);
  declared.add(name);
  return {
    name,
    text: text.replace(/\s+/g, ' ').trim(),
    ...(options.isoTimestamps && { types: ISO_TIMESTAMP_TYPES }),
  };
}
