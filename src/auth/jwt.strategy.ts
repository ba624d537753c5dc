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

const extractBearerToken = ExtractJwt.fromAuthHeaderAsBearerToken();

/** The token of an `Authorization: Bearer` header, exactly as passport-jwt reads it. */
export function bearerToken(request: IncomingMessage | { headers: IncomingMessage['headers'] }) {
  return extractBearerToken(request as Parameters<typeof extractBearerToken>[0]);
}

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  constructor(
    config: ConfigService<AppConfig, true>,
    private readonly verified: VerifiedTokenCache,
  ) {
    // A KeyObject, not the string: jsonwebtoken otherwise tries createPublicKey() on the
    // secret, fails, and builds a secret key, on every request.
    // passport-jwt hands the key to jsonwebtoken as is; its types only name string | Buffer.
    const key = createSecretKey(Buffer.from(config.get('auth.jwtSecret', { infer: true })));
    super({
      jwtFromRequest: extractBearerToken,
      secretOrKeyProvider: (_request, _token, done) => done(null, key as unknown as Buffer),
      // Pinned: a token may not choose its own algorithm (`none`, RS256 with our secret as key).
      algorithms: [JWT_ALGORITHM],
      ignoreExpiration: false,
      passReqToCallback: true,
    });
  }

  /**
   * Only what the token says (null is a 401): its user and session. Whether the session is live
   * is checked by the route's first statement (live_session). The verified token is
   * remembered, so JwtAuthGuard accepts its next uses without passport.
   */
  validate(req: IncomingMessage, payload: JwtPayload): TokenCaller | null {
    if (typeof payload.sub !== 'string' || !isUUID(payload.sub)) return null;
    if (typeof payload.sid !== 'string' || !isUUID(payload.sid)) return null;
    const token = bearerToken(req);
    if (token && typeof payload.exp === 'number') {
      this.verified.set(token, { subject: payload.sub, sessionId: payload.sid }, payload.exp);
    }
    return { id: payload.sub, sessionId: payload.sid };
  }
}
