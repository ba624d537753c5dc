// One helper for tests and benchmarks; bench may import test helpers, never the reverse.
export { freePort } from '../../test/helpers/net';

/** The same connection string with another host, port or database. */
export function withUrl(
  url: string,
  change: { host?: string; port?: number; database?: string },
): string {
  const parsed = new URL(url);
  if (change.host !== undefined) parsed.hostname = change.host;
  if (change.port !== undefined) parsed.port = String(change.port);
  if (change.database !== undefined) parsed.pathname = `/${encodeURIComponent(change.database)}`;
  return parsed.toString();
}

/** The connection string with its password masked, for printing. */
export function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
