import { IsOptional, IsString } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { Trim } from '../../common/validation/transforms';
import { RoomSettingsDto } from './create-chat-room.dto';

/** At least one of title, model and systemPrompt. */
export class UpdateChatRoomDto extends RoomSettingsDto {
  /**
   * The new title, 1 to 200 characters after trimming.
   * @example "Lisbon, day two"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  title?: string;
}
