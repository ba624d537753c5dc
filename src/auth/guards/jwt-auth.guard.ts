import { ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { IS_PUBLIC_KEY } from '../decorators/public.decorator';

/** Registered globally (APP_GUARD): every route needs a valid token unless marked @Public(). */
@Injectable()
export class JwtAuthGuard extends AuthGuard('jwt') {
  constructor(private readonly reflector: Reflector) {
    super();
  }

  override canActivate(context: ExecutionContext) {
    const isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    return isPublic ? true : super.canActivate(context);
  }

  /**
   * One answer for every token failure (none, bad signature, expired, deleted user). An error
   * is not a token failure: the user look-up failed (database down), so it is passed on to
   * become a 503 instead of telling a valid client to sign in again.
   */
  override handleRequest<TUser>(err: unknown, user: TUser | false): TUser {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- rethrown as is for the filter
    if (err) throw err;
    if (!user) throw new UnauthorizedException('Unauthorized');
    return user;
  }
}
