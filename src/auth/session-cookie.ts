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
 * CSRF defence of the cookie routes, besides SameSite=Strict: a request whose Origin names
 * another origin than the service's own or one of CORS_ORIGINS is refused (403). A request
 * without Origin (not a browser's cross-origin request) passes.
 */
@Injectable()
export class TrustedOriginGuard implements CanActivate {
  private readonly trusted: Set<string>;

  constructor(config: ConfigService<AppConfig, true>) {
    this.trusted = new Set(
      config.get('session.trustedOrigins', { infer: true }).map((o) => o.toLowerCase()),
    );
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const origin = request.headers.origin;
    if (origin === undefined) return true;
    const given = origin.toLowerCase();
    if (
      this.trusted.has(given) ||
      given === `${request.protocol}://${request.host}`.toLowerCase()
    ) {
      return true;
    }
    throw new ForbiddenException('Origin not allowed');
  }
}
