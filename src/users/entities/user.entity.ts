import type { EventStream } from '../../assistant/entities/event-stream.entity';
import type { Generation } from '../../assistant/entities/generation.entity';
import type { UsageDay } from '../../assistant/entities/usage-day.entity';
import type { Session } from '../../auth/entities/session.entity';
import type { ChatRoom } from '../../chat/entities/chat-room.entity';
import type { IdempotencyKey } from '../../idempotency/entities/idempotency-key.entity';
import type { Import } from '../../import/entities/import.entity';
import {
  Column,
  CreateDateColumn,
  Entity,
  OneToMany,
  PrimaryGeneratedColumn,
  Unique,
  UpdateDateColumn,
} from 'typeorm';

@Entity({ name: 'users' })
@Unique('uq_users_email', ['email'])
export class User {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_users' })
  id: string;

  /** Trimmed and lower-cased before it is stored; unique (`uq_users_email`). */
  @Column({ type: 'varchar', length: 254 })
  email: string;

  /** argon2id PHC string. Never selected unless asked for, never serialised. */
  @Column({ type: 'text', select: false })
  passwordHash: string;

  @Column({ type: 'varchar', length: 50, nullable: true })
  displayName: string | null;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ type: 'timestamptz', precision: 3 })
  updatedAt: Date;

  // The inverse sides of every table that belongs to a user (all ON DELETE CASCADE). Never
  // loaded implicitly (no eager, no lazy); named by string, as their entities import this one.
  @OneToMany('ChatRoom', (room: ChatRoom) => room.owner)
  chatRooms: ChatRoom[];

  @OneToMany('Session', (session: Session) => session.user)
  sessions: Session[];

  @OneToMany('Generation', (generation: Generation) => generation.user)
  generations: Generation[];

  @OneToMany('UsageDay', (day: UsageDay) => day.user)
  usageDays: UsageDay[];

  @OneToMany('IdempotencyKey', (key: IdempotencyKey) => key.user)
  idempotencyKeys: IdempotencyKey[];

  @OneToMany('EventStream', (stream: EventStream) => stream.user)
  eventStreams: EventStream[];

  @OneToMany('Import', (imported: Import) => imported.owner)
  imports: Import[];
}
