import { types, type CustomTypesConfig } from 'pg';

const TIMESTAMPTZ = 1184;
const parseDate = types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => Date | null;

/**
 * A timestamptz as PostgreSQL sends it in a UTC session, "2026-01-31 12:00:00.12+00" (trailing
 * zeros of the fraction dropped), in the API's form "2026-01-31T12:00:00.120Z", by moving
 * characters. Anything else (another session time zone, years past 9999) goes through Date.
 * A Date made from each of these strings and turned back into a string is a large share of the
 * CPU of a response with many messages.
 */
export function isoTimestamp(text: string): string {
  const length = text.length;
  if (
    length >= 22 &&
    length <= 29 &&
    text.charCodeAt(4) === 45 && // '-'
    text.charCodeAt(10) === 32 && // ' '
    text.endsWith('+00') &&
    (length === 22 || text.charCodeAt(19) === 46) // '.'
  ) {
    const fraction = length === 22 ? '000' : text.slice(20, length - 3).padEnd(3, '0');
    return `${text.slice(0, 10)}T${text.slice(11, 19)}.${fraction.slice(0, 3)}Z`;
  }
  if (
    length >= 25 &&
    length <= 32 &&
    text.charCodeAt(10) === 84 && // 'T': row_to_json's form, "2026-01-31T12:00:00.12+00:00"
    text.endsWith('+00:00') &&
    (length === 25 || text.charCodeAt(19) === 46)
  ) {
    const fraction = length === 25 ? '000' : text.slice(20, length - 6).padEnd(3, '0');
    return `${text.slice(0, 19)}.${fraction.slice(0, 3)}Z`;
  }
  return (parseDate(text) ?? new Date(text)).toISOString();
}

/** node-postgres type parsers with timestamptz as ISO strings (see isoTimestamp). */
export const ISO_TIMESTAMP_TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === TIMESTAMPTZ && format !== 'binary'
      ? isoTimestamp
      : types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/**
 * SQL for a timestamptz as the API's ISO string, "2026-01-31T12:00:00.120Z", as isoTimestamp()
 * makes it (milliseconds cut, not rounded), for answers PostgreSQL builds as JSON itself.
 */
export const sqlIsoTimestamp = (expression: string): string =>
  `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * A timestamp as the API writes it, from either form a row brings: the ISO string of the
 * `isoTimestamps` parser (as is), or the `+00:00` form of `row_to_json()`.
 */
export function apiTimestamp(text: string): string {
  if (text.endsWith('Z')) return text;
  // row_to_json()'s "2026-01-31T12:00:00.12+00:00": the pg parser reads no "T" (it answers null).
  return text.charCodeAt(10) === 84 ? new Date(text).toISOString() : isoTimestamp(text);
}
