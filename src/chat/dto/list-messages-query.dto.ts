import { IsIn, IsOptional, IsUUID } from 'class-validator';
import { IntInRange } from '../../common/validation/int-in-range.decorator';
import { ToInt } from '../../common/validation/transforms';

export class ListMessagesQueryDto {
  /** Page size, 1 to 200. @example 50 */
  @IsOptional()
  @ToInt()
  @IntInRange(1, 200)
  limit: number = 50;

  /** A message id of this room: the page holds the messages just older than it. */
  @IsOptional()
  @IsUUID()
  before?: string;

  /** A message id of this room: the page holds the messages just newer than it. */
  @IsOptional()
  @IsUUID()
  after?: string;

  /**
   * `all`: every message of the room, all branches, in conversation order (each with its
   * parentId: enough to draw the tree). Absent: the active path — or, when the cursor is a
   * message off the active path, the path through that cursor.
   */
  @IsOptional()
  @IsIn(['all'])
  branch?: 'all';
}
