import { IsOptional } from 'class-validator';
import { IntInRange } from '../../common/validation/int-in-range.decorator';
import { ToInt } from '../../common/validation/transforms';

export class ListImportsQueryDto {
  /** Page size, 1 to 100. @example 20 */
  @IsOptional()
  @ToInt()
  @IntInRange(1, 100)
  limit: number = 20;

  /** Imports to skip. @example 0 */
  @IsOptional()
  @ToInt()
  @IntInRange(0, 1_000_000_000)
  offset: number = 0;
}

export class GetImportQueryDto {
  /** Most items, 1 to 1,000. @example 1000 */
  @IsOptional()
  @ToInt()
  @IntInRange(1, 1000)
  itemsLimit: number = 1000;

  /** Items to skip (file order). @example 0 */
  @IsOptional()
  @ToInt()
  @IntInRange(0, 1_000_000_000)
  itemsOffset: number = 0;
}
