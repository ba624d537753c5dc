/**
 * Refresh tokens with node:crypto only, interchangeable with the app's (src/auth/refresh-tokens.ts):
 * `<session id>.<generation>.<secret>.<mac>`, a 256-bit random secret of which the database
 * keeps the SHA-256, and a MAC (HMAC-SHA-256 cut to 128 bits, keyed by HKDF from JWT_SECRET)
 * over the first three parts.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUuid } from './validate';

export interface PresentedToken {
  sessionId: string;
  generation: number;
  secretHash: Buffer;
}

const GENERATION = /^(0|[1-9]\d{0,8})$/;

export class RefreshTokenFormat {
  private readonly key: Buffer;

  constructor(jwtSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', jwtSecret, '', 'refresh-token-mac', 32));
  }

  issue(sessionId: string, generation: number): { token: string; secretHash: Buffer } {
    const secret = randomBytes(32);
    const signed = `${sessionId}.${generation}.${secret.toString('base64url')}`;
    return { token: `${signed}.${this.mac(signed)}`, secretHash: digest(secret) };
  }

  /** The claims of a token this format issued; null for anything else. */
  parse(token: string | undefined): PresentedToken | null {
    const parts = token !== undefined && token.length <= 160 ? token.split('.') : [];
    if (parts.length !== 4 || !isUuid(parts[0]) || !GENERATION.test(parts[1])) return null;
    const given = Buffer.from(parts[3]);
    const expected = Buffer.from(this.mac(parts.slice(0, 3).join('.')));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return {
      sessionId: parts[0].toLowerCase(),
      generation: Number(parts[1]),
      secretHash: digest(Buffer.from(parts[2], 'base64url')),
    };
  }

  private mac(signed: string): string {
    const full = createHmac('sha256', this.key).update(signed).digest();
    return full.subarray(0, 16).toString('base64url');
  }
}

const digest = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
