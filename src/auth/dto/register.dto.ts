import { IsEmail, IsOptional, IsString } from 'class-validator';
import { TextLength } from '../../common/validation/text-length.decorator';
import { IsStorableText } from '../../common/validation/is-storable-text.decorator';
import { NormaliseEmail, Trim } from '../../common/validation/transforms';

export class RegisterDto {
  /**
   * Compared case-insensitively: stored trimmed and lower-cased.
   * @example "ada@example.com"
   */
  @NormaliseEmail()
  @IsString()
  @TextLength(0, 254)
  @IsEmail()
  email: string;

  /**
   * 8 to 128 characters; stored only as an argon2id hash. The upper bound keeps hashing cost
   * and input size (at most 512 UTF-8 bytes) bounded.
   * @example "correct horse battery staple"
   */
  @IsString()
  @TextLength(8, 128)
  @IsStorableText()
  password: string;

  /**
   * 1 to 50 characters after trimming; `null` when absent.
   * @example "Ada"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @TextLength(1, 50)
  @IsStorableText()
  displayName?: string | null;
}
