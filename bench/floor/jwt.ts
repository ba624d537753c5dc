/**
 * HS256 JSON Web Tokens with node:crypto only, interchangeable with the app's tokens
 * (@nestjs/jwt → jsonwebtoken): header {"alg":"HS256","typ":"JWT"}, payload {sub, sid, iat, exp}.
 * The floor signs the session id (`sid`) into its tokens, so the app accepts them, but verifies
 * only signature, expiry and `sub`: it never asks whether the session is still live.
 */
import { createHmac, createSecretKey, KeyObject, timingSafeEqual } from 'node:crypto';

export interface TokenPayload {
  sub: string;
  sid: string;
  iat: number;
  exp: number;
}

const HEADER_JSON = JSON.stringify({ alg: 'HS256', typ: 'JWT' });
const HEADER = Buffer.from(HEADER_JSON).toString('base64url');

export class Jwt {
  private readonly key: KeyObject;

  constructor(
    secret: string,
    private readonly expiresInSeconds: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  get expiresIn(): number {
    return this.expiresInSeconds;
  }

  sign(userId: string, sessionId: string, expiresInSeconds = this.expiresInSeconds): string {
    const iat = Math.floor(Date.now() / 1000);
    const payload: TokenPayload = { sub: userId, sid: sessionId, iat, exp: iat + expiresInSeconds };
    const body = `${HEADER}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${body}.${createHmac('sha256', this.key).update(body).digest('base64url')}`;
  }

  /** The user id of a valid, unexpired token; `null` for anything else. */
  verify(token: string): string | null {
    const firstDot = token.indexOf('.');
    const secondDot = token.indexOf('.', firstDot + 1);
    if (firstDot <= 0 || secondDot <= firstDot + 1 || token.indexOf('.', secondDot + 1) !== -1) {
      return null;
    }
    const headerPart = token.slice(0, firstDot);
    // Other issuers may serialise the header differently; only the algorithm matters, and it
    // must be HS256 (never "none", never whatever the token asks for).
    if (headerPart !== HEADER && parseSegment(headerPart)?.alg !== 'HS256') return null;

    const expected = createHmac('sha256', this.key).update(token.slice(0, secondDot)).digest();
    const actual = Buffer.from(token.slice(secondDot + 1), 'base64url');
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return null;

    const payload = parseSegment(token.slice(firstDot + 1, secondDot));
    if (!payload || typeof payload.sub !== 'string' || typeof payload.exp !== 'number') return null;
    if (payload.exp <= Date.now() / 1000) return null;
    return payload.sub;
  }
}

function parseSegment(segment: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
