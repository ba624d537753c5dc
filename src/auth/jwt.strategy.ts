import { createSecretKey } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { PassportStrategy } from '@nestjs/passport';
import { isUUID } from 'class-validator';
import { ExtractJwt, Strategy } from 'passport-jwt';
import type { AppConfig } from '../config/configuration';
import type { JwtPayload, TokenCaller } from './auth-user';

export const JWT_ALGORITHM = 'HS256';

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy) {
  constructor(config: ConfigService<AppConfig, true>) {
    // A KeyObject, not the string: jsonwebtoken otherwise tries createPublicKey() on the
    // secret, fails, and builds a secret key, on every request (a sixth of the CPU of a read).
    // passport-jwt hands the key to jsonwebtoken as is; its types only name string | Buffer.
    const key = createSecretKey(Buffer.from(config.get('auth.jwtSecret', { infer: true })));
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      secretOrKeyProvider: (_request, _token, done) => done(null, key as unknown as Buffer),
      // Pinned: a token may not choose its own algorithm (`none`, RS256 with our secret as key).
      algorithms: [JWT_ALGORITHM],
      ignoreExpiration: false,
    });
  }

  /**
   * Only what the token says (null is a 401). Whether the user still exists is JwtAuthGuard's
   * look-up, or the route's own statements (see CallerCheckedByQuery).
   */
  validate(payload: JwtPayload): TokenCaller | null {
    return typeof payload.sub === 'string' && isUUID(payload.sub) ? { id: payload.sub } : null;
  }
}
