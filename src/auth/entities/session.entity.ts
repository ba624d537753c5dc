import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';
import type { RevokeReason } from '../sessions.repository';

/**
 * One sign-in. Only SHA-256 hashes of refresh-token secrets are kept (src/auth/refresh-tokens.ts),
 * never a token. Read and written by SessionsService's statements only.
 */
@Entity({ name: 'sessions' })
@Check('ck_sessions_revoked_reason', `("revoked_at" IS NULL) = ("revoked_reason" IS NULL)`)
// The session list and "revoke all others": a user's live sessions, newest first.
@Index('ix_sessions_user_live', ['userId', 'createdAt', 'id'], { where: `"revoked_at" IS NULL` })
// A starting instance loads the revoked sessions whose access tokens may still be valid.
@Index('ix_sessions_revoked_access', ['accessExpiresAt'], { where: `"revoked_at" IS NOT NULL` })
// The purge of ended sessions.
@Index('ix_sessions_expires', ['expiresAt'])
export class Session {
  /** Chosen by the server before the insert: it is part of the refresh token. */
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_sessions' })
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, (user) => user.sessions, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_sessions_user' })
  user: User;

  /** Incremented by each rotation; carried in the refresh token. */
  @Column({ type: 'integer', default: 0 })
  generation: number;

  /** SHA-256 of the current refresh token's secret. */
  @Column({ type: 'bytea' })
  tokenHash: Buffer;

  /** SHA-256 of the secret of the token the last rotation replaced (the grace answer). */
  @Column({ type: 'bytea', nullable: true })
  previousTokenHash: Buffer | null;

  @Column({ type: 'timestamptz', precision: 3, nullable: true })
  rotatedAt: Date | null;

  /** Set from the service's clock (no default), like every other time of a session. */
  @Column({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ type: 'timestamptz', precision: 3 })
  lastUsedAt: Date;

  @Column({ type: 'timestamptz', precision: 3 })
  idleExpiresAt: Date;

  @Column({ type: 'timestamptz', precision: 3 })
  expiresAt: Date;

  /** The newest access token's expiry: a revoked session is remembered by instances until then. */
  @Column({ type: 'timestamptz', precision: 3 })
  accessExpiresAt: Date;

  @Column({ type: 'timestamptz', precision: 3, nullable: true })
  revokedAt: Date | null;

  /** Set with revokedAt, and only then (ck_sessions_revoked_reason). */
  @Column({ type: 'varchar', length: 32, nullable: true })
  revokedReason: RevokeReason | null;

  @Column({ type: 'varchar', length: 512, nullable: true })
  userAgent: string | null;
}
