/**
 * A LIKE/ILIKE pattern matching `text` anywhere, with `%`, `_` and `\` in it taken literally
 * (backslash is PostgreSQL's default LIKE escape). Sent as a parameter, never spliced into SQL.
 */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, '\\$&')}%`;
}
