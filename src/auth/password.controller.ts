import { Body, Controller, HttpCode, HttpStatus, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import type { TokenCaller } from './auth-user';
import { AuthService } from './auth.service';
import { CurrentUser } from './decorators/current-user.decorator';
import { ChangePasswordDto } from './dto/change-password.dto';
import { UNAUTHORIZED } from './sessions.controller';

/** Lives with auth (it ends sessions), under the users path of the contract. */
@ApiTags('users')
@ApiBearerAuth()
@ApiUnauthorizedResponse(UNAUTHORIZED)
@Controller('users/me')
export class PasswordController {
  constructor(private readonly auth: AuthService) {}

  /**
   * Changes the caller's password after checking the current one; every other session of the
   * caller is revoked, this one stays.
   */
  @Post('password')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Changed; every other session is revoked' })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'Invalid body, or the current password is wrong',
  })
  async changePassword(
    @CurrentUser() caller: TokenCaller,
    @Body() dto: ChangePasswordDto,
  ): Promise<void> {
    await this.auth.changePassword(caller, dto);
  }
}
