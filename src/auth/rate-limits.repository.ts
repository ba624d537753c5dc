import { Injectable } from '@nestjs/common';
import { Sql } from '../database/sql.service';
import { statement } from '../database/statement';

export const SQL = {
  // One upsert per request: a fixed window of `ttlMs` per key, counted by PostgreSQL so that
  // every instance on the database shares it. The key is the throttler's SHA-256 of route and
  // tracker (the client address, or the e-mail): no address or e-mail is stored.
  increment: statement<{ key: string; ttlMs: number }, { hits: number; secondsLeft: number }>(
    'rateLimits.increment',
    (p) => `
      INSERT INTO rate_limits AS r (key, hits, expires_at)
      VALUES (${p.key}, 1, clock_timestamp() + ${p.ttlMs} * interval '1 millisecond')
      ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN r.expires_at <= clock_timestamp() THEN 1 ELSE r.hits + 1 END,
        expires_at = CASE WHEN r.expires_at <= clock_timestamp() THEN excluded.expires_at
                          ELSE r.expires_at END
      RETURNING r.hits,
        greatest(1, ceil(extract(epoch FROM r.expires_at - clock_timestamp())))::int AS "secondsLeft"`,
  ),
  purge: statement<Record<never, never>, never>(
    'rateLimits.purge',
    () => `DELETE FROM rate_limits WHERE expires_at < now() - interval '1 minute'`,
  ),
};

@Injectable()
export class RateLimitsRepository {
  constructor(private readonly sql: Sql) {}

  /** Counts a hit of `key` in its window; the hits so far and the seconds the window has left. */
  async increment(key: string, ttlMs: number): Promise<{ hits: number; secondsLeft: number }> {
    const [row] = await this.sql.rows(SQL.increment, { key, ttlMs });
    return row;
  }

  async purge(): Promise<void> {
    await this.sql.rows(SQL.purge, {});
  }
}
