import { IsDefined, IsString, Length } from 'class-validator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { Trim } from '../../common/validation/transforms';

export class UpdateChatRoomDto {
  /**
   * The new title, 1 to 200 characters after trimming.
   * @example "Lisbon, day two"
   */
  @IsDefined()
  @Trim()
  @IsString()
  @Length(1, 200)
  @IsStorableText()
  title: string;
}
