import { ApiProperty } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { IntInRange } from '../../common/validation/int-in-range.decorator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { ToInt } from '../../common/validation/transforms';

export class SearchQueryDto {
  /**
   * 1 to 200 characters. Split into terms at white space; "double quotes" keep a phrase
   * together. A message matches when it contains every term, case-insensitively, as a
   * substring (`%`, `_` and `\` are plain characters). At least one term is required.
   * @example "서울 \"train times\""
   */
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  q: string;

  /** Page size, 1 to 50. @example 20 */
  @ApiProperty({ required: false, default: 20, minimum: 1, maximum: 50 })
  @IsOptional()
  @ToInt()
  @IntInRange(1, 50)
  limit: number = 20;

  /** The `nextCursor` of the previous page, as it was given; absent for the first page. */
  @IsOptional()
  @IsString()
  @TextLength(1, 200)
  cursor?: string;
}
