import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/**
 * A fixed-window counter of the throttler, shared by every instance (PgThrottlerStorage's
 * statements only).
 */
@Entity({ name: 'rate_limits' })
// The purge of ended windows.
@Index('ix_rate_limits_expires', ['expiresAt'])
export class RateLimit {
  /** The throttler's SHA-256 of route and tracker: no address or e-mail is stored. */
  @PrimaryColumn({ type: 'varchar', length: 128, primaryKeyConstraintName: 'pk_rate_limits' })
  key: string;

  @Column({ type: 'integer' })
  hits: number;

  /** The end of the current window. */
  @Column({ type: 'timestamptz', precision: 3 })
  expiresAt: Date;
}
