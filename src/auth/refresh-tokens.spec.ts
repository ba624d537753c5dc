import { randomUUID } from 'node:crypto';
import { RefreshTokens, sameHash } from './refresh-tokens';

describe('RefreshTokens', () => {
  const tokens = new RefreshTokens('s'.repeat(40));
  const sessionId = randomUUID();

  it('issues 256-bit secrets and keeps only their hash', () => {
    const { token, secretHash } = tokens.issue(sessionId, 3);
    const [sid, generation, secret] = token.split('.');
    expect([sid, generation]).toEqual([sessionId, '3']);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(secretHash).toHaveLength(32);
    expect(token).not.toContain(secretHash.toString('base64url'));
    expect(tokens.issue(sessionId, 3).token).not.toBe(token);
  });

  it('parses its own tokens, whatever their generation', () => {
    const { token, secretHash } = tokens.issue(sessionId, 7);
    const claims = tokens.parse(token)!;
    expect(claims).toMatchObject({ sessionId, generation: 7 });
    expect(sameHash(claims.secretHash, secretHash)).toBe(true);
  });

  it('refuses forged, altered, foreign-key and malformed tokens', () => {
    const { token } = tokens.issue(sessionId, 1);
    const [sid, generation, secret, mac] = token.split('.');
    const other = new RefreshTokens('t'.repeat(40)).issue(sessionId, 1).token;
    for (const bad of [
      undefined,
      '',
      'garbage',
      other,
      `${sid}.2.${secret}.${mac}`,
      `${randomUUID()}.${generation}.${secret}.${mac}`,
      `${sid}.${generation}.${secret}x.${mac}`,
      `${sid}.${generation}.${secret}.${mac.slice(0, -1)}`,
      `${sid}.01.${secret}.${mac}`,
      `${token}.x`,
      'x'.repeat(1000),
    ]) {
      expect(tokens.parse(bad)).toBeNull();
    }
  });

  it('compares hashes only when both exist and are equal', () => {
    const a = Buffer.alloc(32, 1);
    expect(sameHash(a, Buffer.alloc(32, 1))).toBe(true);
    expect(sameHash(a, Buffer.alloc(32, 2))).toBe(false);
    expect(sameHash(a, null)).toBe(false);
    expect(sameHash(a, Buffer.alloc(16, 1))).toBe(false);
  });
});
