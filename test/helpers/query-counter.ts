import { Client } from 'pg';

/**
 * Counts the SQL statements node-postgres sends while `action` runs: every query of the app
 * (TypeORM's pool clients are pg Clients) is one call of Client.prototype.query. Run requests
 * one at a time while counting. `action` is given the texts sent so far, to watch them grow.
 */
export async function countQueries<T>(
  action: (sent: readonly string[]) => Promise<T>,
): Promise<{ result: T; count: number; sql: string[] }> {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with apply() below
  const original = Client.prototype.query;
  const sql: string[] = [];
  Client.prototype.query = function (this: Client, ...args: unknown[]) {
    const first = args[0];
    sql.push(typeof first === 'string' ? first : String((first as { text?: string })?.text));
    return (original as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof original;
  try {
    const result = await action(sql);
    return { result, count: sql.length, sql };
  } finally {
    Client.prototype.query = original;
  }
}
