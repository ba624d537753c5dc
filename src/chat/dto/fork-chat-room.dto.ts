import { IsOptional, IsString, IsUUID } from 'class-validator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { Trim } from '../../common/validation/transforms';

export class ForkChatRoomDto {
  /**
   * A message of the room: the new room holds a copy of the path from the root to it.
   * @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51"
   */
  @IsUUID()
  messageId: string;

  /**
   * 1 to 200 characters after trimming; the source room's title when absent.
   * @example "Lisbon, the other plan"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @TextLength(1, 200)
  @IsStorableText()
  title?: string | null;
}
