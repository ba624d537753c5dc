import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Import } from './import.entity';

/** 1 MiB of an uploaded body (the last one shorter); `seq` from 0. */
@Entity({ name: 'import_chunks' })
export class ImportChunk {
  @PrimaryColumn({ type: 'uuid', primaryKeyConstraintName: 'pk_import_chunks' })
  importId: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'pk_import_chunks' })
  seq: number;

  @ManyToOne(() => Import, (imported) => imported.chunks, { nullable: false, onDelete: 'CASCADE' })
  @JoinColumn({ name: 'import_id', foreignKeyConstraintName: 'fk_import_chunks_import' })
  import: Import;

  @Column({ type: 'bytea' })
  data: Buffer;
}
