import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { TokenCaller } from '../auth-user';

/** The caller JwtAuthGuard put on the request: what its verified access token says. */
export const CurrentUser = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): TokenCaller =>
    ctx.switchToHttp().getRequest<{ user: TokenCaller }>().user,
);
