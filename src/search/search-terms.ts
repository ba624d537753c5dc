/**
 * The search query language of GET /api/search: terms split at white space (Unicode's, so the
 * ideographic space U+3000 of Japanese and Chinese input counts); text in "double quotes" is
 * one term (a phrase), trimmed; an unclosed quote runs to the end. Every term must occur in a
 * message as a case-insensitive substring. Terms repeated (in any case) count once.
 */
export function parseSearchTerms(q: string): string[] {
  const terms: string[] = [];
  const seen = new Set<string>();
  const add = (term: string) => {
    const key = term.toLowerCase();
    if (term.length > 0 && !seen.has(key)) {
      seen.add(key);
      terms.push(term);
    }
  };
  let i = 0;
  while (i < q.length) {
    if (q[i] === '"') {
      const close = q.indexOf('"', i + 1);
      const end = close === -1 ? q.length : close;
      add(q.slice(i + 1, end).trim());
      i = end + 1;
      continue;
    }
    let end = i;
    while (end < q.length && q[end] !== '"' && !/\s/u.test(q[end])) end++;
    add(q.slice(i, end));
    i = end === i ? i + 1 : end;
  }
  return terms;
}

/**
 * Whether pg_trgm can draw trigrams from the term, so that the GIN index can narrow the search:
 * it needs three letters or digits in a row (punctuation, emoji and spaces are not "word"
 * characters to pg_trgm). Shorter terms are matched by scanning the caller's own messages.
 */
export function hasTrigrams(term: string): boolean {
  return /[\p{L}\p{N}]{3}/u.test(term);
}
