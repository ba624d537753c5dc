/** A failure whose message is one line that says what went wrong and what to do about it. */
export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

/** The way out that every failure offers. */
export const REMEDY = 'or set DATABASE_URL to a PostgreSQL of your own';
