import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard, ThrottlerLimitDetail } from '@nestjs/throttler';
import type { FastifyReply } from 'fastify';

/** The throttler of the per-account login limit (see app.module). */
export const ACCOUNT_THROTTLER = 'account';

/**
 * The per-account limit counts the normalised e-mail a login names (as the users table stores
 * it), whatever address it comes from. The guard runs before validation: anything that is not
 * a string shares one bucket, and is refused by validation anyway.
 */
export function accountTracker(request: Record<string, unknown>): string {
  const body = request.body as { email?: unknown } | undefined;
  const email = body && typeof body === 'object' ? body.email : undefined;
  return typeof email === 'string' ? `email:${email.trim().toLowerCase()}` : 'email:?';
}

/**
 * ThrottlerGuard whose every 429 carries `Retry-After` (the library names the header of a
 * non-default throttler `Retry-After-<name>`, which clients do not know).
 */
@Injectable()
export class AuthThrottlerGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(
    context: ExecutionContext,
    detail: ThrottlerLimitDetail,
  ): Promise<void> {
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    void reply.header('Retry-After', String(Math.max(1, detail.timeToBlockExpire)));
    return super.throwThrottlingException(context, detail);
  }
}
