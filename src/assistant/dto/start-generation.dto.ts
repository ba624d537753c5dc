import { IsNotEmpty, IsOptional, IsString, Matches } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { MAX_MESSAGE_LENGTH } from '../../chat/dto/create-message.dto';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';

export class StartGenerationDto {
  /**
   * A user message to post and reply to (the rules of a posted message). Without it the reply
   * is to the room as it stands.
   * @example "What should I see in Lisbon in two days?"
   */
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @TextLength(0, MAX_MESSAGE_LENGTH)
  @Matches(/\S/, { message: 'content must not be only whitespace' })
  @IsStorableText()
  content?: string;

  /** Overrides the room's model for this reply: one of the ids of GET /api/models. */
  @IsOptional()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  model?: string;
}
