import { apiTimestamp, isoTimestamp } from './iso-timestamps';

describe('isoTimestamp', () => {
  it.each([
    ['2026-01-31 12:00:00+00', '2026-01-31T12:00:00.000Z'],
    ['2026-01-31 12:00:00.1+00', '2026-01-31T12:00:00.100Z'],
    ['2026-01-31 12:00:00.12+00', '2026-01-31T12:00:00.120Z'],
    ['2026-01-31 12:00:00.123+00', '2026-01-31T12:00:00.123Z'],
    ['1999-12-31 23:59:59.999+00', '1999-12-31T23:59:59.999Z'],
  ])('moves %s into the API form', (text, iso) => {
    expect(isoTimestamp(text)).toBe(iso);
    expect(isoTimestamp(text)).toBe(new Date(iso).toISOString());
  });

  it.each([
    ['another session time zone', '2026-01-31 14:00:00.5+02', '2026-01-31T12:00:00.500Z'],
    ['a half-hour offset', '2026-01-31 17:30:00+05:30', '2026-01-31T12:00:00.000Z'],
    ['microseconds', '2026-01-31 12:00:00.123456+00', '2026-01-31T12:00:00.123Z'],
    ["row_to_json's form", '2026-01-31T12:00:00+00:00', '2026-01-31T12:00:00.000Z'],
    ["row_to_json's form, a fraction", '2026-01-31T12:00:00.12+00:00', '2026-01-31T12:00:00.120Z'],
    [
      "row_to_json's form, microseconds",
      '2026-01-31T12:00:00.123456+00:00',
      '2026-01-31T12:00:00.123Z',
    ],
    [
      "row_to_json's form, another offset",
      '2026-01-31T14:00:00.5+02:00',
      '2026-01-31T12:00:00.500Z',
    ],
  ])('handles %s', (_case, text, iso) => {
    expect(isoTimestamp(text)).toBe(iso);
  });
});

describe('apiTimestamp', () => {
  it.each([
    ['the isoTimestamps form', '2026-01-31T12:00:00.120Z', '2026-01-31T12:00:00.120Z'],
    ['the text form', '2026-01-31 12:00:00.12+00', '2026-01-31T12:00:00.120Z'],
    ['row_to_json()', '2026-01-31T12:00:00.12+00:00', '2026-01-31T12:00:00.120Z'],
    ['row_to_json() in another time zone', '2026-01-31T14:00:00+02:00', '2026-01-31T12:00:00.000Z'],
  ])('reads %s', (_case, text, iso) => {
    expect(apiTimestamp(text)).toBe(iso);
  });
});
