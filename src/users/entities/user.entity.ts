import type { ChatRoom } from '../../chat/entities/chat-room.entity';
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

  /** Never loaded implicitly (no eager, no lazy): services load rooms explicitly. */
  @OneToMany('ChatRoom', (room: ChatRoom) => room.owner)
  chatRooms: ChatRoom[];
}
