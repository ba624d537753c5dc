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
 * An open event stream of some instance, counted for the caps per user and per session. Rows
 * are inserted by the function event_stream_open() (the migration CreateEventStreams) and
 * deleted by EventStreamSlots; a row lives while its stream is open.
 */
@Entity({ name: 'event_streams' })
// The count of one user's streams, and of one session's among them.
@Index('ix_event_streams_user_session', ['userId', 'sessionId'])
// The start-up cleanup of an instance's rows.
@Index('ix_event_streams_instance', ['instanceKey'])
export class EventStream {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_event_streams' })
  id: string;

  @Column({ type: 'uuid' })
  userId: string;

  @ManyToOne(() => User, (user) => user.eventStreams, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_event_streams_user' })
  user: User;

  /** The session of the access token that opened it; only counted, so no foreign key. */
  @Column({ type: 'uuid' })
  sessionId: string;

  /** The opening instance's lease key (src/database/instance-lease.ts). */
  @Column({ type: 'integer' })
  instanceKey: number;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  openedAt: Date;
}
