import { Controller, Delete, Get, HttpCode, HttpStatus } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { UserResponseDto } from './dto/user-response.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@ApiBearerAuth()
@ApiUnauthorizedResponse({
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its user was deleted',
})
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  /** The signed-in user. */
  @Get('me')
  @ApiOkResponse({ type: UserResponseDto })
  async me(@CurrentUser() caller: TokenCaller): Promise<UserResponseDto> {
    return UserResponseDto.from(await this.users.me(caller));
  }

  /** Deletes the signed-in user with all their chat rooms and messages; their tokens stop working. */
  @Delete('me')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Deleted, with every room and message of the user' })
  async remove(@CurrentUser() caller: TokenCaller): Promise<void> {
    await this.users.remove(caller);
  }
}
