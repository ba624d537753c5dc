import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUUID } from 'class-validator';

/**
 * Refresh tokens: `<session id>.<generation>.<secret>.<mac>`.
 * - secret: 256 bits from crypto.randomBytes; the database keeps only its SHA-256.
 * - mac: HMAC-SHA-256 (truncated to 128 bits) over the first three parts, keyed from JWT_SECRET.
 *   It proves that we issued a token even when its hash is long gone, so that presenting a token
 *   several rotations old is recognised as a reuse (and revokes the session) while a forged one
 *   is only a 401. Someone who reads the database cannot mint tokens: the key is not there.
 */
export interface RefreshToken {
  sessionId: string;
  generation: number;
  secretHash: Buffer;
}

const SECRET_BYTES = 32;
const MAC_BYTES = 16;
const MAX_LENGTH = 160;

export class RefreshTokens {
  private readonly key: Buffer;

  constructor(jwtSecret: string) {
    this.key = Buffer.from(hkdfSync('sha256', jwtSecret, '', 'refresh-token-mac', 32));
  }

  issue(sessionId: string, generation: number): { token: string; secretHash: Buffer } {
    const secret = randomBytes(SECRET_BYTES);
    const body = `${sessionId}.${generation}.${secret.toString('base64url')}`;
    return { token: `${body}.${this.mac(body)}`, secretHash: sha256(secret) };
  }

  /** The token's claims when we issued it (whatever its age), else null. */
  parse(token: string | undefined): RefreshToken | null {
    if (!token || token.length > MAX_LENGTH) return null;
    const parts = token.split('.');
    if (parts.length !== 4) return null;
    const [sessionId, generationText, secretText, mac] = parts;
    if (!isUUID(sessionId) || !/^(0|[1-9]\d{0,8})$/.test(generationText)) return null;
    const expected = Buffer.from(this.mac(`${sessionId}.${generationText}.${secretText}`));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
    return {
      sessionId: sessionId.toLowerCase(),
      generation: Number(generationText),
      secretHash: sha256(Buffer.from(secretText, 'base64url')),
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key)
      .update(body)
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('base64url');
  }
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Constant-time comparison of two hashes (either may be missing). */
export function sameHash(a: Buffer | null, b: Buffer | null): boolean {
  return a !== null && b !== null && a.length === b.length && timingSafeEqual(a, b);
}
