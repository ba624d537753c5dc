import { BadRequestException } from '@nestjs/common';
import fc from 'fast-check';
import { lastEventId } from './generations.controller';

describe('lastEventId', () => {
  it('is 0 when absent or blank', () => {
    expect(lastEventId(undefined)).toBe(0);
    expect(lastEventId('  ')).toBe(0);
  });

  it('takes every non-negative integer up to Number.MAX_SAFE_INTEGER', () => {
    expect(lastEventId(String(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(lastEventId(' 0012 ')).toBe(12);
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(lastEventId(String(n))).toBe(n);
      }),
    );
  });

  it.each(['9007199254740992', '99999999999999999999', '-1', '1.5', '1e3', '0x10', 'x', '1 2'])(
    'refuses %s with 400',
    (header) => {
      expect(() => lastEventId(header)).toThrow(
        new BadRequestException('Last-Event-ID must be a non-negative integer'),
      );
    },
  );
});
