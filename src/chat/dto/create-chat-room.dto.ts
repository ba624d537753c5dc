import { IsOptional, IsString } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { Trim } from '../../common/validation/transforms';

export const DEFAULT_ROOM_TITLE = 'New chat';
export const MAX_SYSTEM_PROMPT_LENGTH = 8000;

/** `model` and `systemPrompt`: what create and PATCH share. Null clears them. */
export class RoomSettingsDto {
  /**
   * One of the ids of GET /api/models, or null for the server's default model.
   * @example "llama3.1:8b"
   */
  @IsOptional()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  model?: string | null;

  /**
   * Sent to the model as a system message before the room's messages; up to 8,000 characters,
   * or null for none.
   * @example "You are a concise travel guide."
   */
  @IsOptional()
  @IsString()
  @TextLength(0, MAX_SYSTEM_PROMPT_LENGTH)
  @IsStorableText()
  systemPrompt?: string | null;
}

export class CreateChatRoomDto extends RoomSettingsDto {
  /**
   * 1 to 200 characters after trimming; "New chat" when absent.
   * @example "Trip to Lisbon"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  title?: string | null;
}
