import type { Generation } from '../../assistant/entities/generation.entity';
import {
  Column,
  CreateDateColumn,
  Entity,
  Index,
  JoinColumn,
  ManyToOne,
  OneToMany,
  PrimaryGeneratedColumn,
  UpdateDateColumn,
} from 'typeorm';
import { User } from '../../users/entities/user.entity';
import { Message } from './message.entity';

@Entity({ name: 'chat_rooms' })
// Serves "the owner's rooms, most recently active first" (scanned backwards for DESC).
@Index('ix_chat_rooms_owner_updated', ['ownerId', 'updatedAt', 'id'])
// `q` on the room list: GIN (owner_id, title gin_trgm_ops), made by the migration MessageSearch.
@Index('ix_chat_rooms_owner_title_trgm', { synchronize: false })
// An import skips a conversation its owner already imported (src/import).
@Index('uq_chat_rooms_owner_import_source', ['ownerId', 'importSource'], {
  unique: true,
  where: '"import_source" IS NOT NULL',
})
export class ChatRoom {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_chat_rooms' })
  id: string;

  @Column({ type: 'varchar', length: 200 })
  title: string;

  @Column({ type: 'uuid' })
  ownerId: string;

  @ManyToOne(() => User, (user) => user.chatRooms, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id', foreignKeyConstraintName: 'fk_chat_rooms_owner' })
  owner: User;

  /** A model id of GET /api/models; null: the server's default model. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  model: string | null;

  /** Sent to the model as a system message before the room's messages; null: none. */
  @Column({ type: 'text', nullable: true })
  systemPrompt: string | null;

  @OneToMany(() => Message, (message) => message.chatRoom)
  messages: Message[];

  /** Named by string: generation.entity imports this file. */
  @OneToMany('Generation', (generation: Generation) => generation.chatRoom)
  generations: Generation[];

  /**
   * Every message of every branch, kept by the statements that add and delete messages, so
   * listing rooms does not count rows: its cost does not grow with the history.
   */
  @Column({ type: 'integer', default: 0 })
  messageCount: number;

  /**
   * Grows by one with every change of the room's structure or settings, in the statement that
   * makes it: what ETag and If-Match compare.
   */
  @Column({ type: 'integer', default: 1 })
  version: number;

  /** The last message of the active path (a leaf); null in an empty room. */
  @Column({ type: 'uuid', nullable: true })
  activeMessageId: string | null;

  /** Where an import took it from ('chatgpt:<conversation_id>', 'room:<room id>'); null: made here. */
  @Column({ type: 'varchar', length: 300, nullable: true })
  importSource: string | null;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  /** The newest message's createdAt, or the last rename. */
  @UpdateDateColumn({ type: 'timestamptz', precision: 3 })
  updatedAt: Date;
}
