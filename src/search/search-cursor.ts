/** Where a search page ends: the (createdAt, id) of its last hit, newest-first order. */
export interface SearchCursor {
  createdAt: string;
  id: string;
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Opaque to clients: base64url of `createdAt|id`. */
export function encodeSearchCursor(cursor: SearchCursor): string {
  return Buffer.from(`${cursor.createdAt}|${cursor.id}`, 'utf8').toString('base64url');
}

/**
 * The cursor, or null when it is not one this API made: anything else (wrong alphabet,
 * padding, an impossible date, a malformed id) must be a 400 before any SQL runs.
 */
export function decodeSearchCursor(text: string): SearchCursor | null {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(text)) return null;
  const decoded = Buffer.from(text, 'base64url').toString('utf8');
  // Only the canonical encoding: re-encoding must give the same text back.
  if (Buffer.from(decoded, 'utf8').toString('base64url') !== text) return null;
  const [createdAt, id, ...rest] = decoded.split('|');
  if (rest.length > 0 || createdAt === undefined || id === undefined) return null;
  if (!ISO_MS.test(createdAt) || !UUID.test(id)) return null;
  const time = Date.parse(createdAt);
  if (Number.isNaN(time) || new Date(time).toISOString() !== createdAt) return null;
  return { createdAt, id };
}
