import { Body, Controller, HttpCode, HttpStatus, Post, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { AuthService, SignedIn } from './auth.service';
import { Public } from './decorators/public.decorator';
import { AuthResultDto } from './dto/auth-result.dto';
import { LoginDto } from './dto/login.dto';
import { RegisterDto } from './dto/register.dto';
import { ACCOUNT_THROTTLER, AuthThrottlerGuard } from './guards/auth-throttler.guard';
import { REFRESH_COOKIE, SessionCookie, TrustedOriginGuard } from './session-cookie';
import { SessionsService } from './sessions.service';

const COOKIE_SET = `Sets the \`${REFRESH_COOKIE}\` cookie (HttpOnly; SameSite=Strict; Path=/api/auth): the session's refresh token, never in a body.`;
const FOREIGN_ORIGIN =
  'The Origin header names an origin other than the service’s own or one of CORS_ORIGINS';

@ApiTags('auth')
@Public()
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly sessions: SessionsService,
    private readonly cookie: SessionCookie,
  ) {}

  /** Creates an account and signs it in: a new session. */
  @Post('register')
  @UseGuards(AuthThrottlerGuard)
  @SkipThrottle({ [ACCOUNT_THROTTLER]: true })
  @ApiCreatedResponse({ type: AuthResultDto, description: COOKIE_SET })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body' })
  @ApiConflictResponse({ type: ErrorResponseDto, description: 'Email already registered' })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'Rate-limited per client address (AUTH_RATE_LIMIT a minute); see Retry-After',
  })
  async register(
    @Body() dto: RegisterDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuthResultDto> {
    return this.answer(reply, await this.auth.register(dto, request.headers['user-agent']));
  }

  /** Exchanges e-mail and password for an access token and a new session. */
  @Post('login')
  @HttpCode(HttpStatus.OK)
  @UseGuards(AuthThrottlerGuard)
  @ApiOkResponse({ type: AuthResultDto, description: COOKIE_SET })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Invalid body' })
  @ApiUnauthorizedResponse({
    type: ErrorResponseDto,
    description: 'Same answer for an unknown e-mail and a wrong password',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description:
      'Rate-limited per client address and per account (AUTH_RATE_LIMIT a minute each); see Retry-After',
  })
  async login(
    @Body() dto: LoginDto,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuthResultDto> {
    return this.answer(reply, await this.auth.login(dto, request.headers['user-agent']));
  }

  /**
   * Exchanges the refresh cookie for a new access token and rotates it (the old refresh token
   * is spent). The same spent token presented again within 10 s (another tab) gets an access
   * token without rotation; later, it revokes the whole session.
   */
  @Post('refresh')
  @HttpCode(HttpStatus.OK)
  @UseGuards(TrustedOriginGuard)
  @ApiCookieAuth(REFRESH_COOKIE)
  @ApiOkResponse({
    type: AuthResultDto,
    description: `${COOKIE_SET} Not set again on the grace answer.`,
  })
  @ApiUnauthorizedResponse({
    type: ErrorResponseDto,
    description: 'No, unknown, expired, revoked or reused refresh token (the cookie is cleared)',
  })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: FOREIGN_ORIGIN })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'A malformed body (none is needed)',
  })
  async refresh(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<AuthResultDto> {
    try {
      return this.answer(reply, await this.auth.refresh(this.cookie.read(request)));
    } catch (error) {
      this.cookie.clear(reply);
      throw error;
    }
  }

  /** Ends the session of the refresh cookie and clears the cookie. Idempotent. */
  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @UseGuards(TrustedOriginGuard)
  @ApiCookieAuth(REFRESH_COOKIE)
  @ApiNoContentResponse({
    description: 'The session is revoked (if it was live) and the cookie cleared',
  })
  @ApiForbiddenResponse({ type: ErrorResponseDto, description: FOREIGN_ORIGIN })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description: 'A malformed body (none is needed)',
  })
  async logout(
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<void> {
    await this.sessions.logout(this.cookie.read(request));
    this.cookie.clear(reply);
  }

  private answer(reply: FastifyReply, signedIn: SignedIn): AuthResultDto {
    if (signedIn.refresh) {
      this.cookie.set(reply, signedIn.refresh.token, signedIn.refresh.maxAgeSeconds);
    }
    return signedIn.body;
  }
}
