import type { IncomingHttpHeaders } from 'node:http';
import { ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { TokenCaller } from '../auth-user';
import { IS_PUBLIC_KEY } from '../decorators/public.decorator';
import { bearerToken } from '../jwt.strategy';
import { VerifiedTokenCache } from '../verified-token-cache';

type GuardedRequest = { headers: IncomingHttpHeaders; user: TokenCaller };

/**
 * Registered globally (APP_GUARD): every route needs a valid access token unless marked
 * @Public(). passport-jwt verifies it (signature, pinned algorithm, expiry, claims); the very
 * same string, once verified, is accepted until its expiry from VerifiedTokenCache without
 * passport's per-request work. Whether the token's session is still live is not decided here:
 * the route's first statement checks it (docs/architecture.md, "Sessions").
 */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(
    private readonly reflector: Reflector,
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
    if (claims === undefined) return (await super.canActivate(context)) as boolean;
    request.user = { id: claims.subject, sessionId: claims.sessionId };
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
