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
} from 'typeorm';
import { User } from '../../users/entities/user.entity';
import type { ImportFormat } from '../formats';
import type { ImportChunk } from './import-chunk.entity';
import type { ImportItem } from './import-item.entity';

export const IMPORT_STATUSES = ['uploading', 'queued', 'running', 'complete', 'failed'] as const;
/** `uploading` is internal (the body is still arriving): the API never shows such an import. */
export type ImportStatus = (typeof IMPORT_STATUSES)[number];

/** One uploaded file and its progress; see the migration Imports for the design. */
@Entity({ name: 'imports' })
@Check('ck_imports_status', `"status" IN ('uploading', 'queued', 'running', 'complete', 'failed')`)
// The caller's imports, newest first.
@Index('ix_imports_owner_created', ['ownerId', 'createdAt', 'id'])
// One import per user uploading, queued or running: the 429.
@Index('uq_imports_owner_active', ['ownerId'], {
  unique: true,
  where: `"status" IN ('uploading', 'queued', 'running')`,
})
// What the workers claim, oldest first.
@Index('ix_imports_pending', ['createdAt', 'id'], {
  where: `"status" IN ('uploading', 'queued', 'running')`,
})
export class Import {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'pk_imports' })
  id: string;

  @Column({ type: 'uuid' })
  ownerId: string;

  @ManyToOne(() => User, (user) => user.imports, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'owner_id', foreignKeyConstraintName: 'fk_imports_owner' })
  owner: User;

  @Column({ type: 'varchar', length: 16 })
  status: ImportStatus;

  /** Told from the first bytes once the body is stored; null while uploading. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  format: ImportFormat | null;

  @Column({ type: 'bigint', default: 0 })
  byteSize: string;

  /** The lease key of the instance uploading or running it (src/database/instance-lease.ts). */
  @Column({ type: 'integer', nullable: true })
  runnerKey: number | null;

  /** The first conversation (file order, from 0) not yet committed: where a resumed run starts. */
  @Column({ type: 'integer', default: 0 })
  nextIndex: number;

  /** How many times an instance claimed it: past MAX_RUNS it fails rather than retry forever. */
  @Column({ type: 'integer', default: 0 })
  runs: number;

  @Column({ type: 'integer', default: 0 })
  imported: number;

  @Column({ type: 'integer', default: 0 })
  skipped: number;

  @Column({ type: 'integer', default: 0 })
  failed: number;

  /** Why the file could not be read (further); null otherwise. */
  @Column({ type: 'text', nullable: true })
  reason: string | null;

  @CreateDateColumn({ type: 'timestamptz', precision: 3 })
  createdAt: Date;

  @Column({ type: 'timestamptz', precision: 3, nullable: true })
  finishedAt: Date | null;

  /** The stored body, deleted when the import finishes. */
  @OneToMany('ImportChunk', (chunk: ImportChunk) => chunk.import)
  chunks: ImportChunk[];

  /** One per conversation read, in file order. */
  @OneToMany('ImportItem', (item: ImportItem) => item.import)
  items: ImportItem[];
}
