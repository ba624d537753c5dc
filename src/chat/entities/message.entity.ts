import type { Generation } from '../../assistant/entities/generation.entity';
import {
  Check,
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  OneToMany,
  PrimaryGeneratedColumn,
  Unique,
} from 'typeorm';
import { ChatRoom } from './chat-room.entity';

export const MESSAGE_ROLES = ['user', 'assistant', 'system'] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/** A generation's status and its message's are always the same. */
export const MESSAGE_STATUSES = ['streaming', 'complete', 'stopped', 'failed'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];

@Entity({ name: 'messages' })
@Check('ck_messages_role', `"role" IN ('user', 'assistant', 'system')`)
@Check('ck_messages_status', `"status" IN ('streaming', 'complete', 'stopped', 'failed')`)
// Conversation order within a room, and the cursor comparisons on (created_at, id).
@Index('ix_messages_room_created', ['chatRoomId', 'createdAt', 'id'])
// Search (src/search): one user's messages newest first, and a GIN index of
// (owner_id, content gin_trgm_ops) that TypeORM cannot describe (see the migration MessageSearch).
@Index('ix_messages_owner_created', ['ownerId', 'createdAt', 'id'])
@Index('ix_messages_owner_content_trgm', { synchronize: false })
// The active path of a room in conversation order (a room's reads), and a message's children
// most recently chosen first (going down a branch; siblingIds; the parent foreign key).
@Index('ix_messages_active_path', ['chatRoomId', 'createdAt', 'id'], { where: '"on_active_path"' })
@Index('ix_messages_room_parent', ['chatRoomId', 'parentId', 'chosenVersion', 'createdAt', 'id'])
// What fk_messages_parent refers to: a parent is a message of the same room.
@Unique('uq_messages_room_id', ['chatRoomId', 'id'])
export class Message {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_messages' })
  id: string;

  @Column({ type: 'uuid' })
  chatRoomId: string;

  @ManyToOne(() => ChatRoom, (room) => room.messages, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'chat_room_id', foreignKeyConstraintName: 'fk_messages_chat_room' })
  chatRoom: ChatRoom;

  /**
   * The room's owner, copied when the message is inserted (rooms never change owner), so that
   * search indexes are scoped to one user; a trigger fills it for inserts that leave it out.
   */
  @Column({ type: 'uuid' })
  ownerId: string;

  @Column({ type: 'varchar', length: 16 })
  role: MessageRole;

  @Column({ type: 'text' })
  content: string;

  /** "complete" for every message a client posted; an assistant reply's follows its generation. */
  @Column({ type: 'varchar', length: 16, default: 'complete' })
  status: MessageStatus;

  /** The model that wrote it (server-written replies), else null. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  model: string | null;

  /** The generation that wrote it, else null; no foreign key (generations.message_id is one). */
  @Column({ type: 'uuid', nullable: true })
  generationId: string | null;

  /**
   * The generations that write this message (fk_generations_message): one for a reply, none
   * for a posted message. Named by string: generation.entity imports this file.
   */
  @OneToMany('Generation', (generation: Generation) => generation.message)
  generations: Generation[];

  /** The message it answers or follows, in the same room; null: a first message. */
  @Column({ type: 'uuid', nullable: true })
  parentId: string | null;

  /** Deleting a message deletes the messages below it. */
  @ManyToOne(() => Message, (message) => message.children, { onDelete: 'CASCADE' })
  @JoinColumn([
    {
      name: 'chat_room_id',
      referencedColumnName: 'chatRoomId',
      foreignKeyConstraintName: 'fk_messages_parent',
    },
    { name: 'parent_id', referencedColumnName: 'id' },
  ])
  parent: Message | null;

  @OneToMany(() => Message, (message) => message.parent)
  children: Message[];

  /**
   * On the room's active path (from a root down to the room's active message). Kept by the
   * statements that change the path, so that a room's reads are index range scans.
   */
  @Column({ type: 'boolean', default: false })
  onActivePath: boolean;

  /**
   * The room's version when this message last joined the active path: among siblings, the
   * highest is the one that was active most recently (how a branch is gone down again).
   */
  @Column({ type: 'integer', default: 0 })
  chosenVersion: number;

  /** How many messages share its parent, itself included (1: siblingIds is just itself). */
  @Column({ type: 'integer', default: 1 })
  siblingCount: number;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;
}
