import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { Sql, statement } from '../database/sql.service';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

const SQL = {
  // One upsert per request: a fixed window of `ttl` per key, counted by PostgreSQL so that every
  // instance on the database shares it. The key is the throttler's SHA-256 of route and tracker
  // (the client address, or the e-mail): no address or e-mail is stored.
  increment: statement(
    'rateLimits.increment',
    `
    INSERT INTO rate_limits AS r (key, hits, expires_at)
    VALUES ($1, 1, clock_timestamp() + $2 * interval '1 millisecond')
    ON CONFLICT (key) DO UPDATE SET
      hits = CASE WHEN r.expires_at <= clock_timestamp() THEN 1 ELSE r.hits + 1 END,
      expires_at = CASE WHEN r.expires_at <= clock_timestamp() THEN excluded.expires_at
                        ELSE r.expires_at END
    RETURNING r.hits,
      greatest(1, ceil(extract(epoch FROM r.expires_at - clock_timestamp())))::int AS "secondsLeft"`,
  ),
  purge: statement(
    'rateLimits.purge',
    `DELETE FROM rate_limits WHERE expires_at < now() - interval '1 minute'`,
  ),
};

/**
 * The throttler's storage in PostgreSQL (@nestjs/throttler's own keeps counters in the memory of
 * one process, so N instances would allow N times the limit). A fixed window per key; once over
 * the limit, a key stays blocked until its window ends (the throttler's default blockDuration,
 * which equals the ttl).
 */
@Injectable()
export class PgThrottlerStorage implements ThrottlerStorage, OnModuleInit, OnModuleDestroy {
  private purge: NodeJS.Timeout | undefined;

  constructor(private readonly sql: Sql) {}

  onModuleInit(): void {
    this.purge = setInterval(
      () => void this.sql.rows(SQL.purge, []).catch(() => undefined),
      60_000,
    );
    this.purge.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purge);
  }

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const [row] = await this.sql.rows<{ hits: number; secondsLeft: number }>(SQL.increment, [
      key,
      ttl,
    ]);
    const isBlocked = row.hits > limit;
    return {
      totalHits: row.hits,
      timeToExpire: row.secondsLeft,
      isBlocked,
      timeToBlockExpire: isBlocked ? row.secondsLeft : 0,
    };
  }
}
