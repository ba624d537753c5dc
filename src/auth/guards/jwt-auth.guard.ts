import type { IncomingHttpHeaders } from 'node:http';
import { ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { AuthUser, TokenCaller } from '../auth-user';
import { CALLER_CHECKED_BY_QUERY_KEY } from '../decorators/caller-checked-by-query.decorator';
import { IS_PUBLIC_KEY } from '../decorators/public.decorator';
import { bearerToken } from '../jwt.strategy';
import { RevokedSessions } from '../revoked-sessions';
import { SessionsService } from '../sessions.service';
import { VerifiedTokenCache } from '../verified-token-cache';

type GuardedRequest = { headers: IncomingHttpHeaders; user: TokenCaller | AuthUser };

/**
 * Registered globally (APP_GUARD): every route needs a valid token of a live session unless
 * marked @Public().
 * - The session: RevokedSessions answers from memory (every instance learns a revocation by
 *   NOTIFY), so no route pays a round trip for it; only while that set may be stale (its LISTEN
 *   connection was lost) is the database asked.
 * - The user: looked up here, with the session, in one statement, unless the route is
 *   @CallerCheckedByQuery() (its own statements prove the user exists).
 * A token passport-jwt verified before (the very same string) is accepted until its expiry
 * without passport: its per-request strategy copy and callbacks cost about 5 % of the CPU of
 * GET /users/me in the benchmark.
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionsService,
    private readonly revoked: RevokedSessions,
    private readonly verified: VerifiedTokenCache,
  ) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, targets)) return true;
    const request = context.switchToHttp().getRequest<GuardedRequest>();
    const token = bearerToken(request);
    const claims = token ? this.verified.get(token) : undefined;
    if (claims !== undefined) {
      request.user = { id: claims.subject, sessionId: claims.sessionId } satisfies TokenCaller;
    } else {
      await super.canActivate(context);
    }
    const { id, sessionId } = request.user;
    const revoked = this.revoked.isRevoked(sessionId);
    if (revoked) throw new UnauthorizedException('Unauthorized');
    if (this.reflector.getAllAndOverride<boolean>(CALLER_CHECKED_BY_QUERY_KEY, targets)) {
      if (revoked === undefined && !(await this.sessions.isLive(id, sessionId))) {
        throw new UnauthorizedException('Unauthorized');
      }
      return true;
    }
    const user = await this.sessions.caller(id, sessionId);
    if (!user) throw new UnauthorizedException('Unauthorized');
    request.user = user;
    return true;
  }

  /**
   * One answer for every token failure (none, bad signature, expired, not a user id). An error
   * is not a token failure (the key provider failed): it is passed on as is.
   */
  override handleRequest<TUser>(err: unknown, user: TUser | false): TUser {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as is for the filter
    if (err) throw err;
    if (!user) throw new UnauthorizedException('Unauthorized');
    return user;
  }
}
