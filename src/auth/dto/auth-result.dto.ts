import { ApiProperty } from '@nestjs/swagger';
import { UserResponseDto } from '../../users/dto/user-response.dto';

export class AuthResultDto {
  @ApiProperty({ type: () => UserResponseDto })
  user: UserResponseDto;
  /** Send as `Authorization: Bearer <accessToken>`. */
  accessToken: string;
  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType: 'Bearer';
  /**
   * Lifetime of the access token in seconds (`JWT_EXPIRES_IN`, never past the session's end).
   * @example 900
   */
  expiresIn: number;
}
