import { IsIn, IsOptional, IsString } from 'class-validator';
import { IntInRange } from '../../common/validation/int-in-range.decorator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { ToInt } from '../../common/validation/transforms';

export class ListChatRoomsQueryDto {
  /** Page size, 1 to 100. @example 20 */
  @IsOptional()
  @ToInt()
  @IntInRange(1, 100)
  limit: number = 20;

  /** Rooms to skip. @example 0 */
  @IsOptional()
  @ToInt()
  @IntInRange(0, 1_000_000_000)
  offset: number = 0;

  /** `messages`: every item also carries its room's newest messages (at most 50, oldest first). */
  @IsOptional()
  @IsIn(['messages'])
  include?: 'messages';

  /**
   * 1 to 200 characters: only rooms whose title contains it, case-insensitively (`%`, `_` and
   * `\` are plain characters). `total` counts the matching rooms.
   * @example "lisbon"
   */
  @IsOptional()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  q?: string;
}
