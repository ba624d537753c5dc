import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsNotEmpty, IsOptional, IsString, IsUUID, Matches } from 'class-validator';
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

  /**
   * Where the message goes in the room's tree. Absent: after the active message (a first
   * message in an empty room), as a v2 client expects. A message id of this room: as its
   * child — an edit is a post with the edited message's parentId. Null: a new first message.
   * The new message becomes the room's active message. Not a message of this room: 400.
   */
  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true })
  @IsOptional()
  @IsUUID()
  parentId?: string | null;
}
