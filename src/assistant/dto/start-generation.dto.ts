import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsNotEmpty, IsOptional, IsString, IsUUID, Matches } from 'class-validator';
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

  /**
   * Where it goes in the room's tree. With `content`: the user message's parent, as for a
   * posted message (absent: after the active message). Without `content`: the reply's parent
   * (absent: the active message) — a **regenerate** is `{ "parentId": <the user message above
   * the reply> }`, which adds a new assistant sibling. The model is sent the path from the
   * root to the reply's parent only. Not a message of this room: 400.
   */
  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true })
  @IsOptional()
  @IsUUID()
  parentId?: string | null;
}
