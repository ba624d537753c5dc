import { createSecretKey } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import { isUUID } from 'class-validator';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/configuration';
import type { JwtPayload, TokenCaller } from './auth-user';
import { VerifiedTokenCache } from './verified-token-cache';

export const JWT_ALGORITHM = 'HS256';

const bearerToken = ExtractJwt.fromAuthHeaderAsBearerToken();

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  private readonly verified = new VerifiedTokenCache();

  constructor(config: ConfigService<AppConfig, true>) {
    // A KeyObject, not the string: jsonwebtoken otherwise tries createPublicKey() on the
    // secret, fails, and builds a secret key, on every request (a sixth of the CPU of a read).
    // passport-jwt hands the key to jsonwebtoken as is; its types only name string | Buffer.
    const key = createSecretKey(Buffer.from(config.get('auth.jwtSecret', { infer: true })));
    super({
      jwtFromRequest: bearerToken,
      secretOrKeyProvider: (_request, _token, done) => done(null, key as unknown as Buffer),
      // Pinned: a token may not choose its own algorithm (`none`, RS256 with our secret as key).
      algorithms: [JWT_ALGORITHM],
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  /**
   * A token passport-jwt verified before (the very same string) is accepted until its expiry
   * without verifying it again; every other goes through passport-jwt. `this` is passport's
   * per-request copy of the strategy, which carries success().
   */
  override authenticate(req: IncomingMessage, options?: unknown): void {
    const token = bearerToken(req as Parameters<typeof bearerToken>[0]);
    const subject = token ? this.verified.get(token) : undefined;
    if (subject !== undefined) return this.success({ id: subject } satisfies TokenCaller);
    super.authenticate(req as Parameters<Strategy['authenticate']>[0], options);
  }

  /**
   * Only what the token says (null is a 401). Whether the user still exists is JwtAuthGuard's
   * look-up, or the route's own statements (see CallerCheckedByQuery).
   */
  validate(req: IncomingMessage, payload: JwtPayload): TokenCaller | null {
    if (typeof payload.sub !== 'string' || !isUUID(payload.sub)) return null;
    const token = bearerToken(req as Parameters<typeof bearerToken>[0]);
    if (token && typeof payload.exp === 'number')
      this.verified.set(token, payload.sub, payload.exp);
    return { id: payload.sub };
  }
}
