import { Body, Controller, HttpCode, HttpStatus, Post, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ThrottlerGuard } from '@nestjs/throttler';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { AuthService } from './auth.service';
import { Public } from './decorators/public.decorator';
import { AuthResultDto } from './dto/auth-result.dto';
import { LoginDto } from './dto/login.dto';
import { RegisterDto } from './dto/register.dto';

@ApiTags('auth')
@Public()
@UseGuards(ThrottlerGuard)
@ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body' })
@ApiTooManyRequestsResponse({
  type: ErrorResponseDto,
  description:
    'Too many attempts from this address (AUTH_RATE_LIMIT a minute, 10 by default): retry after the `Retry-After` seconds',
})
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  /** Creates an account and signs it in. */
  @Post('register')
  @ApiCreatedResponse({ type: AuthResultDto })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Email already registered' })
  register(@Body() dto: RegisterDto): Promise<AuthResultDto> {
    return this.auth.register(dto);
  }

  /** Exchanges e-mail and password for an access token. */
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @ApiOkResponse({ type: AuthResultDto })
  @ApiUnauthorizedResponse({
    type: ErrorResponseDto,
    description: 'Same answer for an unknown e-mail and a wrong password',
  })
  login(@Body() dto: LoginDto): Promise<AuthResultDto> {
    return this.auth.login(dto);
  }
}
