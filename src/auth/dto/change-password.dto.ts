import { IsString } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';

export class ChangePasswordDto {
  /** The password the user signs in with now. @example "correct horse battery staple" */
  @IsString()
  @TextLength(0, 128)
  currentPassword: string;

  /**
   * 8 to 128 characters; stored only as an argon2id hash.
   * @example "tr0ub4dor and then some"
   */
  @IsString()
  @TextLength(8, 128)
  @IsStorableText()
  newPassword: string;
}
