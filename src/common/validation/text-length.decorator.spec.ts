import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { isTextLength, TextLength } from './text-length.decorator';

class Titled {
  @TextLength(1, 10)
  title!: unknown;
}

function errorsFor(title: unknown): string[] {
  const dto = Object.assign(new Titled(), { title });
  return validateSync(dto).flatMap((error) => Object.values(error.constraints ?? {}));
}

describe('TextLength', () => {
  it('counts UTF-16 code units: an emoji is two', () => {
    expect(isTextLength('😀'.repeat(5), 1, 10)).toBe(true);
    expect(isTextLength('😀'.repeat(6), 1, 10)).toBe(false);
    expect(isTextLength('😀'.repeat(5) + 'x', 1, 10)).toBe(false);
  });

  it('agrees with String.prototype.length for any string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 30 }),
        fc.nat(20),
        fc.nat(20),
        (text, a, b) => {
          const [min, max] = a <= b ? [a, b] : [b, a];
          expect(isTextLength(text, min, max)).toBe(text.length >= min && text.length <= max);
        },
      ),
    );
  });

  it('refuses whatever is not a string', () => {
    fc.assert(
      fc.property(
        fc.anything().filter((value) => typeof value !== 'string'),
        (value) => {
          expect(isTextLength(value, 0, 100)).toBe(false);
        },
      ),
    );
  });

  it('says which bound a string missed, in class-validator words', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (title) => {
        const errors = errorsFor(title);
        if (title.length === 0) {
          expect(errors).toEqual(['title must be longer than or equal to 1 characters']);
        } else if (title.length > 10) {
          expect(errors).toEqual(['title must be shorter than or equal to 10 characters']);
        } else {
          expect(errors).toEqual([]);
        }
      }),
    );
  });
});
