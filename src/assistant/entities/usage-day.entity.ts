import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { User } from '../../users/entities/user.entity';

/** A user's model usage on one UTC day; kept apart from generations, which go with their room. */
@Entity({ name: 'usage_days' })
export class UsageDay {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_usage_days' })
  userId: string;

  @ManyToOne(() => User, (user) => user.usageDays, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'user_id', foreignKeyConstraintName: 'fk_usage_days_user' })
  user: User;

  @PrimaryColumn({ type: 'date', primaryKeyConstraintName: 'pk_usage_days' })
  day: string;

  @Column({ type: 'bigint', default: 0 })
  promptTokens: string;

  @Column({ type: 'bigint', default: 0 })
  completionTokens: string;

  @Column({ type: 'integer', default: 0 })
  generations: number;
}
