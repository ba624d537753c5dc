import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryColumn,
} from 'typeorm';
import { User } from '../../users/entities/user.entity';

/**
 * A key a user sent with a POST, and the first answer to it. The row is written in the same
 * transaction as what the request created, so neither exists without the other. Read and
 * written by IdempotencyService's statements only.
 */
@Entity({ name: 'idempotency_keys' })
// The purge walks expired rows oldest first, never the whole table.
@Index('ix_idempotency_keys_expires', ['expiresAt'])
export class IdempotencyKey {
  /** Keys belong to a user: another user's identical key is another row. */
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_idempotency_keys' })
  userId: string;

  @ManyToOne(() => User, (user) => user.idempotencyKeys, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_idempotency_keys_user' })
  user: User;

  @PrimaryColumn({ type: 'varchar', length: 255, primaryKeyConstraintName: 'pk_idempotency_keys' })
  key: string;

  /** SHA-256 of the method, route, path parameters and canonical JSON body. */
  @Column({ type: 'bytea' })
  fingerprint: Buffer;

  /** Null only inside the transaction that claimed the key, which no other one sees. */
  @Column({ type: 'smallint', nullable: true })
  status: number | null;

  /** The response headers a retry gets again (e.g. Location). */
  @Column({ type: 'json', nullable: true })
  headers: Record<string, string> | null;

  /** The response body as first sent (json, not jsonb: key order is kept). */
  @Column({ type: 'json', nullable: true })
  body: unknown;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ type: 'timestamptz', precision: 3 })
  expiresAt: Date;
}
