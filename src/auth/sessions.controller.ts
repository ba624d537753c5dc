import {
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  ParseUUIDPipe,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import type { TokenCaller } from './auth-user';
import { CurrentUser } from './decorators/current-user.decorator';
import { SessionResponseDto } from './dto/session-response.dto';
import { SessionsService } from './sessions.service';

export const UNAUTHORIZED = {
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its session was revoked or has ended',
};

@ApiTags('auth')
@ApiBearerAuth()
@ApiUnauthorizedResponse(UNAUTHORIZED)
@Controller('auth/sessions')
export class SessionsController {
  constructor(private readonly sessions: SessionsService) {}

  /** The caller's live sessions, newest first; `current` marks the one of this access token. */
  @Get()
  @ApiOkResponse({ type: [SessionResponseDto] })
  async list(@CurrentUser() caller: TokenCaller): Promise<SessionResponseDto[]> {
    const sessions = await this.sessions.list(caller);
    return sessions.map((s) => ({ ...s, current: s.id === caller.sessionId }));
  }

  /** Revokes one session of the caller (the current one too: its tokens stop working). */
  @Delete(':sessionId')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiParam({ name: 'sessionId', format: 'uuid' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiBadRequestResponse({ type: ErrorResponseDto, description: 'Malformed session id' })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: 'No live session of the caller with this id (another user’s is also 404)',
  })
  async revokeOne(
    @CurrentUser() caller: TokenCaller,
    @Param('sessionId', new ParseUUIDPipe()) sessionId: string,
  ): Promise<void> {
    if (!(await this.sessions.revokeOne(caller, sessionId))) {
      throw new NotFoundException('Session not found');
    }
  }

  /** Revokes every session of the caller but the current one ("sign out everywhere else"). */
  @Delete()
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiNoContentResponse({ description: 'Every other session is revoked' })
  async revokeOthers(@CurrentUser() caller: TokenCaller): Promise<void> {
    await this.sessions.revokeOthers(caller);
  }
}
