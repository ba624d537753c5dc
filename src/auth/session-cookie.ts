import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/configuration';

/** The refresh cookie; only the cookie routes under /api/auth ever receive it. */
export const REFRESH_COOKIE = 'refresh_token';
export const REFRESH_COOKIE_PATH = '/api/auth';

/** Sets and clears the refresh cookie: HttpOnly, SameSite=Strict, Path=/api/auth, Secure per COOKIE_SECURE. */
@Injectable()
export class SessionCookie {
  private readonly secure: boolean;

  constructor(config: ConfigService<AppConfig, true>) {
    this.secure = config.get('session.cookieSecure', { infer: true });
  }

  read(request: FastifyRequest): string | undefined {
    return request.cookies?.[REFRESH_COOKIE];
  }

  set(reply: FastifyReply, token: string, maxAgeSeconds: number): void {
    void reply.setCookie(REFRESH_COOKIE, token, { ...this.attributes(), maxAge: maxAgeSeconds });
  }

  clear(reply: FastifyReply): void {
    void reply.clearCookie(REFRESH_COOKIE, this.attributes());
  }

  private attributes() {
    return {
      httpOnly: true,
      sameSite: 'strict',
      path: REFRESH_COOKIE_PATH,
      secure: this.secure,
    } as const;
  }
}

/**
 * CSRF defence of the cookie routes, besides SameSite=Strict. Refused (403):
 * - `Sec-Fetch-Site: cross-site`, whatever Origin says: the browser itself reports a request
 *   from another site;
 * - an Origin other than PUBLIC_URL's or one of CORS_ORIGINS. The origin the Host header names
 *   counts only without PUBLIC_URL outside production: behind a proxy Host is whatever the
 *   client or the proxy sends, so production trusts configured origins only.
 * A request without Origin (not a browser's cross-origin request) passes.
 */
@Injectable()
export class TrustedOriginGuard implements CanActivate {
  private readonly trusted: Set<string>;
  private readonly trustHostOrigin: boolean;

  constructor(config: ConfigService<AppConfig, true>) {
    this.trusted = new Set(
      config.get('session.trustedOrigins', { infer: true }).map((o) => o.toLowerCase()),
    );
    this.trustHostOrigin = config.get('session.trustHostOrigin', { infer: true });
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    if (request.headers['sec-fetch-site']?.toLowerCase() === 'cross-site') {
      throw new ForbiddenException('Cross-site request not allowed');
    }
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    const given = origin.toLowerCase();
    if (
      this.trusted.has(given) ||
      (this.trustHostOrigin && given === `${request.protocol}://${request.host}`.toLowerCase())
    ) {
      return true;
    }
    throw new ForbiddenException('Origin not allowed');
  }
}
