import { ApiProperty } from '@nestjs/swagger';
import { UserResponseDto } from '../../users/dto/user-response.dto';

export class AuthResultDto {
  @ApiProperty({ type: () => UserResponseDto })
  user: UserResponseDto;
  /** Send as `Authorization: Bearer <accessToken>`. */
  accessToken: string;
  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType: 'Bearer';
  /** Lifetime of the token in seconds. @example 3600 */
  expiresIn: number;
}
