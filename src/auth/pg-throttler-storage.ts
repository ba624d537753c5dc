import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RateLimitsRepository } from './rate-limits.repository';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/**
 * The throttler's storage in PostgreSQL (@nestjs/throttler's own keeps counters in the memory of
 * one process, so N instances would allow N times the limit). A fixed window per key; once over
 * the limit, a key stays blocked until its window ends (the throttler's default blockDuration,
 * which equals the ttl).
 */
@Injectable()
export class PgThrottlerStorage implements ThrottlerStorage, OnModuleInit, OnModuleDestroy {
  private purge: NodeJS.Timeout | undefined;

  constructor(private readonly rateLimits: RateLimitsRepository) {}

  onModuleInit(): void {
    this.purge = setInterval(() => void this.rateLimits.purge().catch(() => undefined), 60_000);
    this.purge.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.purge);
  }

  async increment(key: string, ttl: number, limit: number): Promise<ThrottlerStorageRecord> {
    const row = await this.rateLimits.increment(key, ttl);
    const isBlocked = row.hits > limit;
    return {
      totalHits: row.hits,
      timeToExpire: row.secondsLeft,
      isBlocked,
      timeToBlockExpire: isBlocked ? row.secondsLeft : 0,
    };
  }
}
