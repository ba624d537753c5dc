import { containsPattern } from '../common/like-pattern';
import { hasTrigrams, parseSearchTerms } from './search-terms';

describe('parseSearchTerms', () => {
  it.each([
    ['hello world', ['hello', 'world']],
    ['  spaced\tout\nterms  ', ['spaced', 'out', 'terms']],
    ['東京\u3000大阪', ['東京', '大阪']],
    ['"new york" pizza', ['new york', 'pizza']],
    ['pizza "new  york"', ['pizza', 'new  york']],
    ['"  padded phrase  "', ['padded phrase']],
    ['"unclosed phrase', ['unclosed phrase']],
    ['a"b c"d', ['a', 'b c', 'd']],
    ['"" x', ['x']],
    ['Go go GO', ['Go']],
    ['서울에서 "서울 에서"', ['서울에서', '서울 에서']],
    ['100% a_b c\\d', ['100%', 'a_b', 'c\\d']],
  ])('%j → %j', (q, terms) => {
    expect(parseSearchTerms(q)).toEqual(terms);
  });

  it('gives no terms for blanks and empty quotes', () => {
    expect(parseSearchTerms('   ')).toEqual([]);
    expect(parseSearchTerms('"" "  "')).toEqual([]);
  });
});

describe('containsPattern', () => {
  it('escapes LIKE wildcards and the escape character', () => {
    expect(containsPattern('100%')).toBe('%100\\%%');
    expect(containsPattern('a_b')).toBe('%a\\_b%');
    expect(containsPattern('c:\\dir')).toBe('%c:\\\\dir%');
    expect(containsPattern('서울')).toBe('%서울%');
  });
});

describe('hasTrigrams', () => {
  it.each([
    ['서울에서', true],
    ['서울', false],
    ['a', false],
    ['abc', true],
    ['a-b-c', false],
    ['😀😀😀', false],
    ['日本語', true],
    ['new york', true],
    ['ab cd', false],
  ])('%j → %j', (term, expected) => {
    expect(hasTrigrams(term)).toBe(expected);
  });
});
