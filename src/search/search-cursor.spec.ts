import { decodeSearchCursor, encodeSearchCursor } from './search-cursor';

const cursor = {
  createdAt: '2026-01-31T12:00:00.123Z',
  id: '6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51',
};
const b64 = (text: string) => Buffer.from(text).toString('base64url');

describe('search cursor', () => {
  it('round-trips', () => {
    expect(decodeSearchCursor(encodeSearchCursor(cursor))).toEqual(cursor);
  });

  it.each([
    ['empty', ''],
    ['not base64url', 'a+b/c='],
    ['padded', `${encodeSearchCursor(cursor)}=`],
    ['random text', 'hello'],
    ['no id', b64('2026-01-31T12:00:00.123Z')],
    ['extra part', b64(`${cursor.createdAt}|${cursor.id}|x`)],
    ['impossible date', b64(`2026-02-30T12:00:00.000Z|${cursor.id}`)],
    ['month 13', b64(`2026-13-01T12:00:00.000Z|${cursor.id}`)],
    ['no milliseconds', b64(`2026-01-31T12:00:00Z|${cursor.id}`)],
    ['upper-case id', b64(`${cursor.createdAt}|${cursor.id.toUpperCase()}`)],
    ['short id', b64(`${cursor.createdAt}|6f1c1b8e`)],
    ['SQL', b64(`${cursor.createdAt}|'; DROP TABLE messages; --`)],
    ['too long', 'A'.repeat(300)],
  ])('refuses %s', (_, text) => {
    expect(decodeSearchCursor(text)).toBeNull();
  });
});
