import { IsIn, IsNotEmpty, IsOptional, IsString, Matches } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { MESSAGE_ROLES, type MessageRole } from '../entities/message.entity';

export const MAX_MESSAGE_LENGTH = 32_000;

export class CreateMessageDto {
  /**
   * 1 to 32,000 characters, not only whitespace. Stored exactly as sent.
   * @example "What should I see in Lisbon in two days?"
   */
  @IsString()
  @IsNotEmpty()
  @TextLength(0, MAX_MESSAGE_LENGTH)
  @Matches(/\S/, { message: 'content must not be only whitespace' })
  @IsStorableText()
  content: string;

  /**
   * Who wrote it; "user" when absent.
   * @example "user"
   */
  @IsOptional()
  @IsIn(MESSAGE_ROLES)
  role?: MessageRole;
}
