import { buildSnippet, SNIPPET_MAX } from './snippet';

/** The text of each highlight, to compare with the terms. */
const marked = (s: { snippet: string; highlights: [number, number][] }) =>
  s.highlights.map(([a, b]) => s.snippet.slice(a, b));

describe('buildSnippet', () => {
  it('keeps a short message whole and marks every occurrence, whatever its case', () => {
    const s = buildSnippet('Run, run, RUNNING', ['run']);
    expect(s.snippet).toBe('Run, run, RUNNING');
    expect(s.highlights).toEqual([
      [0, 3],
      [5, 8],
      [10, 13],
    ]);
  });

  it('marks several terms, sorted, and counts UTF-16 code units', () => {
    const s = buildSnippet('서울에서 만나요. 😀 서울은 좋아요', ['서울', '좋아']);
    expect(marked(s)).toEqual(['서울', '서울', '좋아']);
    expect(s.highlights[1][0]).toBe('서울에서 만나요. 😀 '.length);
  });

  it('gives offsets after astral characters (emoji are two code units)', () => {
    const s = buildSnippet('😀😀 café 😀 CAFÉ', ['café']);
    expect(s.highlights).toEqual([
      [5, 9],
      [13, 17],
    ]);
    expect(marked(s)).toEqual(['café', 'CAFÉ']);
  });

  it('finds emoji terms as whole code points', () => {
    const s = buildSnippet('a 👍🏽 b 👍', ['👍']);
    expect(marked(s)).toEqual(['👍', '👍']);
  });

  it('lists overlapping occurrences of different terms, and nested ones', () => {
    const s = buildSnippet('abc 서울에서', ['ab', 'bc', '서울', '서울에서']);
    expect(s.highlights).toEqual([
      [0, 2],
      [1, 3],
      [4, 6],
      [4, 8],
    ]);
  });

  it('centres a long message on the first match, within SNIPPET_MAX, at white space', () => {
    const words = Array.from({ length: 200 }, (_, i) => `word${i}`);
    words[120] = 'NEEDLE';
    words[125] = 'needle';
    const content = words.join(' ');
    const s = buildSnippet(content, ['needle']);
    expect(s.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX);
    expect(content).toContain(s.snippet);
    expect(marked(s)).toEqual(['NEEDLE', 'needle']);
    // Some context before the match, and the edges fall between words.
    expect(s.highlights[0][0]).toBeGreaterThan(30);
    expect(s.snippet.startsWith('word')).toBe(true);
    const offset = content.indexOf(s.snippet);
    expect(content[offset - 1]).toBe(' ');
    expect(content[offset + s.snippet.length]).toBe(' ');
  });

  it('shows the end of the message when the match is near it', () => {
    const content = `${'x'.repeat(500)} tail match`;
    const s = buildSnippet(content, ['match']);
    expect(s.snippet.endsWith('tail match')).toBe(true);
    expect(s.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX);
    expect(marked(s)).toEqual(['match']);
  });

  it('never cuts a surrogate pair at either edge', () => {
    for (let shift = 0; shift < 4; shift++) {
      const content = `${'a'.repeat(shift)}${'😀'.repeat(150)}key${'😀'.repeat(150)}`;
      const s = buildSnippet(content, ['key']);
      expect(s.snippet.isWellFormed()).toBe(true);
      expect(s.snippet.length).toBeLessThanOrEqual(SNIPPET_MAX);
      expect(marked(s)).toEqual(['key']);
    }
    const noMatch = buildSnippet('😀'.repeat(150), ['zzz']);
    expect(noMatch.snippet.isWellFormed()).toBe(true);
    expect(noMatch.snippet.length).toBe(SNIPPET_MAX);
  });

  it('leaves out occurrences that do not fit wholly inside the snippet', () => {
    const content = `key ${'y'.repeat(400)} key`;
    const s = buildSnippet(content, ['key']);
    expect(s.highlights).toEqual([[0, 3]]);
  });

  it('treats regular-expression characters and LIKE wildcards as text', () => {
    const s = buildSnippet('cost 100% (a_b) c:\\dir [x] a.b', [
      '100%',
      'a_b',
      'c:\\dir',
      '[x]',
      '.',
    ]);
    expect(marked(s)).toEqual(['100%', 'a_b', 'c:\\dir', '[x]', '.']);
  });

  it('without any occurrence found, shows the start of the message', () => {
    const s = buildSnippet('ς'.repeat(300), ['zz']);
    expect(s.snippet).toBe('ς'.repeat(SNIPPET_MAX));
    expect(s.highlights).toEqual([]);
  });

  it('keeps a first match longer than the snippet at its start', () => {
    const term = 'k'.repeat(SNIPPET_MAX);
    const s = buildSnippet(`${'z '.repeat(100)}${term} end`, [term]);
    expect(s.snippet).toBe(term);
    expect(s.highlights).toEqual([[0, SNIPPET_MAX]]);
  });
});
