/** The most characters of a client's input an error message quotes. */
export const EXCERPT_LENGTH = 40;

/**
 * A short, cut excerpt of something a client sent, for an error message: at most `max`
 * characters (code points, so an emoji is never cut in half), then "…".
 */
export function excerpt(text: string, max = EXCERPT_LENGTH): string {
  const chars = Array.from(text);
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : text;
}
