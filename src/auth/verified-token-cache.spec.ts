import { VerifiedTokenCache } from './verified-token-cache';

describe('VerifiedTokenCache', () => {
  let nowMs: number;
  const cache = (max?: number) => new VerifiedTokenCache(max, () => nowMs);

  beforeEach(() => {
    nowMs = 1_000_000_000_000;
  });

  it('hits only the exact token, until its expiry', () => {
    const tokens = cache();
    const exp = nowMs / 1000 + 60;
    tokens.set('a.b.c', { subject: 'user-1', sessionId: 's-1' }, exp);
    expect(tokens.get('a.b.c')).toMatchObject({ subject: 'user-1', sessionId: 's-1' });
    expect(tokens.get('a.b.C')).toBeUndefined();
    expect(tokens.get('a.b.c ')).toBeUndefined();

    nowMs = exp * 1000 - 1;
    expect(tokens.get('a.b.c')).toMatchObject({ subject: 'user-1', sessionId: 's-1' });
    nowMs = exp * 1000;
    expect(tokens.get('a.b.c')).toBeUndefined();
    expect(tokens.size).toBe(0);
  });

  it('never holds more than its bound: the oldest entry goes first', () => {
    const tokens = cache(3);
    const exp = nowMs / 1000 + 60;
    for (const token of ['t1', 't2', 't3', 't4'])
      tokens.set(token, { subject: token.toUpperCase(), sessionId: token }, exp);
    expect(tokens.size).toBe(3);
    expect(tokens.get('t1')).toBeUndefined();
    expect(['t2', 't3', 't4'].map((token) => tokens.get(token)?.subject)).toEqual([
      'T2',
      'T3',
      'T4',
    ]);

    tokens.set('t4', { subject: 'T4', sessionId: 't4' }, exp); // already there: nothing is evicted
    expect(tokens.get('t2')?.subject).toBe('T2');
  });
});
