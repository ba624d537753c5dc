import { Check, Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Import } from './import.entity';

export const IMPORT_ITEM_STATUSES = ['imported', 'skipped', 'failed'] as const;
export type ImportItemStatus = (typeof IMPORT_ITEM_STATUSES)[number];

/**
 * What became of one conversation of the file. `chatRoomId` has no foreign key: the report
 * outlives a room its owner deletes later (the id then answers 404).
 */
@Entity({ name: 'import_items' })
@Check('ck_import_items_status', `"status" IN ('imported', 'skipped', 'failed')`)
export class ImportItem {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_import_items' })
  importId: string;

  /** The conversation's place in the file, from 0 (across a ZIP's parts). */
  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'pk_import_items' })
  idx: number;

  @ManyToOne(() => Import, (imported) => imported.items, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'import_id', foreignKeyConstraintName: 'fk_import_items_import' })
  import: Import;

  @Column({ type: 'varchar', length: 255, nullable: true })
  sourceId: string | null;

  @Column({ type: 'varchar', length: 200, nullable: true })
  title: string | null;

  @Column({ type: 'varchar', length: 16 })
  status: ImportItemStatus;

  @Column({ type: 'uuid', nullable: true })
  chatRoomId: string | null;

  @Column({ type: 'text', nullable: true })
  reason: string | null;
}
