import { ApiProperty } from '@nestjs/swagger';
import { IMPORT_FORMATS, type ImportFormat } from '../formats';
import { IMPORT_ITEM_STATUSES, type ImportItemStatus } from '../entities/import-item.entity';

export const VISIBLE_IMPORT_STATUSES = ['queued', 'running', 'complete', 'failed'] as const;
export type VisibleImportStatus = (typeof VISIBLE_IMPORT_STATUSES)[number];

export class ImportCountsDto {
  /** Conversations read so far (each has an item); the file's count once the import has finished. @example 12 */
  total: number;
  /** @example 10 */
  imported: number;
  /** Already imported by the caller before (or the caller's own room): nothing new. @example 1 */
  skipped: number;
  /** @example 1 */
  failed: number;
}

export class ImportItemDto {
  /** The conversation's place in the file, from 0 (across the parts of a ZIP). @example 0 */
  index: number;
  /** ChatGPT's `conversation_id`, or the room id of our export; null when the file gives none. @example "67a1b2c3-0000-4000-8000-000000000001" */
  @ApiProperty({ type: String, nullable: true })
  sourceId: string | null;
  /** @example "Trip to Lisbon" */
  @ApiProperty({ type: String, nullable: true })
  title: string | null;
  @ApiProperty({ enum: IMPORT_ITEM_STATUSES, example: 'imported' })
  status: ImportItemStatus;
  /** The room it became (imported), or the room that already holds it (skipped). @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  chatRoomId: string | null;
  /**
   * Why it failed or was skipped, or what was changed on the way (a message cut at 32,000
   * characters, a message whose parent is missing made a root, …); null when nothing was.
   * @example null
   */
  @ApiProperty({ type: String, nullable: true })
  reason: string | null;
}

export class ImportResponseDto {
  /** @example "0b7c1d2e-3f40-4a5b-8c6d-7e8f90a1b2c3" */
  @ApiProperty({ format: 'uuid' })
  id: string;
  /** queued, then running on whichever instance claims it, then complete or failed. */
  @ApiProperty({ enum: VISIBLE_IMPORT_STATUSES, example: 'queued' })
  status: VisibleImportStatus;
  /** What the file is, told from its bytes. */
  @ApiProperty({ enum: IMPORT_FORMATS, example: 'chatgpt-zip' })
  format: ImportFormat;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
  /** When it became complete or failed; null before. @example null */
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt: string | null;
  /**
   * Why the file could not be read to its end (status failed): the conversations before that
   * point stay imported, each whole. Null otherwise.
   * @example null
   */
  @ApiProperty({ type: String, nullable: true })
  reason: string | null;
  conversations: ImportCountsDto;
  /**
   * One per conversation read, in file order, as they are read: a page of them (`itemsLimit`,
   * `itemsOffset`; all of them up to 1,000 by default). Empty in the list of imports.
   */
  @ApiProperty({ type: () => [ImportItemDto] })
  items: ImportItemDto[];
}

export class ImportPageDto {
  @ApiProperty({ type: () => [ImportResponseDto] })
  items: ImportResponseDto[];
  /** All of the caller's imports. @example 3 */
  total: number;
  /** @example 20 */
  limit: number;
  /** @example 0 */
  offset: number;
}
