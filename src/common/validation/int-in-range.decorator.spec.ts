import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { IntInRange, isIntInRange } from './int-in-range.decorator';

class Paged {
  @IntInRange(1, 100)
  limit!: unknown;
}

function errorsFor(limit: unknown): string[] {
  return validateSync(Object.assign(new Paged(), { limit })).flatMap((error) =>
    Object.values(error.constraints ?? {}),
  );
}

describe('IntInRange', () => {
  it('takes exactly the integers of the range', () => {
    fc.assert(
      fc.property(fc.integer(), (n) => {
        expect(isIntInRange(n, 1, 100)).toBe(n >= 1 && n <= 100);
      }),
    );
    expect(isIntInRange(1.5, 1, 100)).toBe(false);
    expect(isIntInRange(Number.NaN, 1, 100)).toBe(false);
  });

  it('gives one message for anything else', () => {
    fc.assert(
      fc.property(
        fc
          .anything()
          .filter(
            (value) =>
              !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 100),
          ),
        (value) => {
          expect(errorsFor(value)).toEqual(['limit must be an integer from 1 to 100']);
        },
      ),
    );
    expect(errorsFor(50)).toEqual([]);
  });
});
