import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  PrimaryGeneratedColumn,
} from 'typeorm';
import { ChatRoom } from '../../chat/entities/chat-room.entity';
import { Message, type MessageStatus } from '../../chat/entities/message.entity';
import { User } from '../../users/entities/user.entity';

export const GENERATION_ERROR_CODES = [
  'upstream_error',
  'upstream_rate_limited',
  'upstream_timeout',
  'upstream_truncated',
  'too_long',
  'interrupted',
] as const;
export type GenerationErrorCode = (typeof GENERATION_ERROR_CODES)[number];

/**
 * One assistant reply being (or having been) written by the model. The running instance owns
 * it (owner_instance: the key of the session-level advisory lock that instance holds, so any
 * instance can tell a dead owner's rows); its text is its message's content, and
 * delta_lengths lets any instance rebuild the event stream 1..n from that text.
 */
@Entity({ name: 'generations' })
@Check('ck_generations_status', `"status" IN ('streaming', 'complete', 'stopped', 'failed')`)
@Index('uq_generations_room_streaming', ['chatRoomId'], {
  unique: true,
  where: `"status" = 'streaming'`,
})
@Index('ix_generations_user_streaming', ['userId'], { where: `"status" = 'streaming'` })
@Index('ix_generations_owner_streaming', ['ownerInstance'], { where: `"status" = 'streaming'` })
@Index('ix_generations_room', ['chatRoomId'])
@Index('ix_generations_message', ['messageId'])
@Index('ix_generations_user', ['userId'])
export class Generation {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_generations' })
  id: string;

  @Column({ type: 'uuid' })
  chatRoomId: string;

  @ManyToOne(() => ChatRoom, (room) => room.generations, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'chat_room_id', foreignKeyConstraintName: 'fk_generations_chat_room' })
  chatRoom: ChatRoom;

  /** The assistant message it writes. */
  @Column({ type: 'uuid' })
  messageId: string;

  @ManyToOne(() => Message, (message) => message.generations, {
    nullable: false,
    onDelete: 'CASCADE',
  })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'fk_generations_message' })
  message: Message;

  /** The user message posted with it, for the `start` event; null when none was. */
  @Column({ type: 'uuid', nullable: true })
  userMessageId: string | null;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, (user) => user.generations, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_generations_user' })
  user: User;

  @Column({ type: 'varchar', length: 16, default: 'streaming' })
  status: MessageStatus;

  @Column({ type: 'varchar', length: 200 })
  model: string;

  @Column({ type: 'varchar', length: 64, nullable: true })
  finishReason: string | null;

  @Column({ type: 'integer', nullable: true })
  promptTokens: number | null;

  @Column({ type: 'integer', nullable: true })
  completionTokens: number | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  errorCode: GenerationErrorCode | null;

  /** The length (UTF-16 units) of every delta stored so far, in event order. */
  @Column({ type: 'integer', array: true, default: () => "'{}'" })
  deltaLengths: number[];

  /** The title this reply gave its room (the `title` event), if any. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ type: 'integer' })
  ownerInstance: number;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;
}
