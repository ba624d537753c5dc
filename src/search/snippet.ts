/** Longest snippet, in UTF-16 code units (what JavaScript's String length counts). */
export const SNIPPET_MAX = 200;
/** How much text before the first match the snippet tries to show. */
const LEAD = 60;
/** How far a snippet edge may move to land on white space instead of inside a word. */
const WORD_SLACK = 15;

export interface Snippet {
  /** An exact substring of the content: no ellipsis, no markup. */
  snippet: string;
  /** [start, end) of every term occurrence inside the snippet, in UTF-16 code units. */
  highlights: [number, number][];
}

const escapeRegExp = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');

/**
 * Case-insensitive occurrences of `term` in `text`, left to right, not overlapping one another.
 * The `u` flag matches whole code points, so an occurrence never starts or ends inside a
 * surrogate pair, and case folding (`i`) maps one code point to one, so offsets stay offsets
 * of the original text.
 */
function occurrences(text: string, term: string): [number, number][] {
  const found: [number, number][] = [];
  for (const match of text.matchAll(new RegExp(escapeRegExp(term), 'giu'))) {
    found.push([match.index, match.index + match[0].length]);
  }
  return found;
}

const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;
const isSpace = (char: string | undefined) => char !== undefined && /\s/u.test(char);

/**
 * The snippet of a search hit: at most SNIPPET_MAX code units of `content` around the first
 * occurrence of any term (up to LEAD before it), with its edges moved a little to white space
 * when there is some nearby and never inside a surrogate pair; then every occurrence of every
 * term that lies wholly inside it. Occurrences of different terms may overlap (`ab` and `bc` in
 * `abc`); the list is sorted by start, then end, without duplicates.
 *
 * PostgreSQL decided that the message matches (lower() of its locale); JavaScript's case
 * folding agrees for all but a few letters (final sigma, dotted I). When it finds no term at
 * all, the snippet is the start of the message, without highlights.
 */
export function buildSnippet(content: string, terms: readonly string[]): Snippet {
  const all = terms.map((term) => occurrences(content, term));
  const first = all
    .flat()
    .reduce<[number, number] | null>((a, b) => (a === null || b[0] < a[0] ? b : a), null);

  let start = 0;
  let end = Math.min(content.length, SNIPPET_MAX);
  if (first !== null && content.length > SNIPPET_MAX) {
    const [matchStart, matchEnd] = first;
    const lead = Math.max(0, Math.min(LEAD, SNIPPET_MAX - (matchEnd - matchStart)));
    start = Math.max(0, matchStart - lead);
    end = Math.min(content.length, start + SNIPPET_MAX);
    start = Math.max(0, end - SNIPPET_MAX);
    // Prefer edges at white space, as long as the first match stays inside.
    if (start > 0 && !isSpace(content[start - 1])) {
      for (let i = start; i < Math.min(matchStart, start + WORD_SLACK); i++) {
        if (isSpace(content[i])) {
          start = i + 1;
          break;
        }
      }
    }
    if (end < content.length && !isSpace(content[end])) {
      for (let i = end - 1; i > Math.max(matchEnd, end - WORD_SLACK); i--) {
        if (isSpace(content[i])) {
          end = i;
          break;
        }
      }
    }
    if (start > 0 && isLowSurrogate(content.charCodeAt(start))) start++;
    if (end < content.length && isLowSurrogate(content.charCodeAt(end))) end--;
  } else if (end < content.length && isLowSurrogate(content.charCodeAt(end))) {
    end--;
  }

  const seen = new Set<string>();
  const highlights = all
    .flat()
    .filter(([s, e]) => s >= start && e <= end)
    .map(([s, e]): [number, number] => [s - start, e - start])
    .filter(([s, e]) => !seen.has(`${s}:${e}`) && seen.add(`${s}:${e}`))
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { snippet: content.slice(start, end), highlights };
}
