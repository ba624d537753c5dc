import { IsOptional, IsString, Length } from 'class-validator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { Trim } from '../../common/validation/transforms';

export const DEFAULT_ROOM_TITLE = 'New chat';

export class CreateChatRoomDto {
  /**
   * 1 to 200 characters after trimming; "New chat" when absent.
   * @example "Trip to Lisbon"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 200)
  @IsStorableText()
  title?: string | null;
}
