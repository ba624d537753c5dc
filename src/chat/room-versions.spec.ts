import { BadRequestException } from '@nestjs/common';
import fc from 'fast-check';
import { parseIfMatch } from './room-versions';

describe('parseIfMatch', () => {
  it('reads no header and * as "any version"', () => {
    expect(parseIfMatch(undefined)).toBeNull();
    expect(parseIfMatch('*')).toBeNull();
    expect(parseIfMatch(' * ')).toBeNull();
  });

  it.each([
    ['"7"', [7]],
    ['"7", "8"', [7, 8]],
    ['"7","8"', [7, 8]],
    [' "0" ', [0]],
    ['W/"7"', []],
    ['W/"7", "8"', [8]],
    ['"abc"', []],
    ['"07"', []],
    ['"-1"', []],
    ['"2147483648"', []],
    ['"2147483647"', [2147483647]],
    ['"7,8"', []],
    ['"7",', [7]],
    [', "7" ,, "8"', [7, 8]],
  ])('reads %s as the strong versions %j', (header, versions) => {
    expect(parseIfMatch(header)).toEqual(versions);
  });

  it('joins repeated headers as one list', () => {
    expect(parseIfMatch(['"1"', '"2"'])).toEqual([1, 2]);
  });

  it.each(['', ' ', '7', '"7', '7"', 'W/7', 'W/"7', '"7" "8"', '*, "7"', ',', 'W/ "7"', 'garbage'])(
    'refuses %j with a 400',
    (header) => {
      expect(() => parseIfMatch(header)).toThrow(BadRequestException);
    },
  );

  it('reads back any list of versions it is given, and never throws on a list of tags', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.nat({ max: 2 ** 31 - 1 })), { minLength: 1 }),
        fc.constantFrom(',', ', ', ' ,', ' , '),
        (tags, separator) => {
          const header = tags.map(([weak, v]) => `${weak ? 'W/' : ''}"${v}"`).join(separator);
          expect(parseIfMatch(header)).toEqual(tags.filter(([weak]) => !weak).map(([, v]) => v));
        },
      ),
    );
  });

  it('answers any string with versions or a 400, never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (header) => {
        try {
          const versions = parseIfMatch(header);
          expect(versions === null || versions.every((v) => Number.isSafeInteger(v))).toBe(true);
        } catch (error) {
          expect(error).toBeInstanceOf(BadRequestException);
        }
      }),
    );
  });
});
