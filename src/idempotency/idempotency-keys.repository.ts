import { Injectable } from '@nestjs/common';
import { Sql, type SqlRunner } from '../database/sql.service';
import { dedent, statement, type Placeholders, type Statement } from '../database/statement';

/** What the key adds to a route's parameters. */
export interface KeyParams {
  keyUserId: string;
  key: string;
  fingerprint: Buffer;
  ttlSeconds: number;
}

/** A keyed run's row: the key's earlier answer (if any), or what the route's statement made. */
export interface KeyedRow<R> {
  /** The key's advisory lock was free: no other transaction holds the key. */
  free: boolean;
  fingerprint: Buffer | null;
  status: number | null;
  headers: Record<string, string> | null;
  /** The stored answer of an earlier request with the key. */
  body: unknown;
  /** The route's row, when its statement wrote (as `row_to_json`). */
  created: R | null;
}

/**
 * A route's write statement, written once: `with` (CTEs, if any) and its last write `write`
 * (`INSERT … RETURNING` or the like), in two forms: as it is without an Idempotency-Key, and
 * wrapped by the key (the same CTEs, the write as one more). `gate` must go into the WHERE of
 * the route's first write: empty without a key; with one, it holds the writes back unless the
 * key's advisory lock was free and the key has no answer yet.
 */
export interface KeyableStatement<P extends object, R> {
  plain: Statement<P, R>;
  keyed: Statement<P & KeyParams, KeyedRow<R>>;
}

export function keyableStatement<P extends object, R>(
  id: string,
  route: (p: Placeholders<P>, gate: string) => { with?: string; write: string },
): KeyableStatement<P, R> {
  const plain = statement<P, R>(
    id,
    (p) => {
      const { with: ctes, write } = route(p, '');
      return ctes ? `WITH ${dedent(ctes)}\n${dedent(write)}` : write;
    },
    { isoTimestamps: true },
  );
  // The key's advisory lock (held until the statement's transaction ends; the same lock as
  // IdempotencyService's claim, so the keyed forms exclude each other on every instance), the
  // key's live answer, the route's writes behind the gate, and the key's row storing the
  // route's row as the answer. A row committed after this statement's snapshot, or an expired
  // one, makes the INSERT fail (23505): nothing of the route is kept, and the caller looks again.
  const keyed = statement<P & KeyParams, KeyedRow<R>>(`${id}.keyed`, (p) => {
    const gate = 'AND (SELECT free FROM lock) AND NOT EXISTS (SELECT 1 FROM prior)';
    const { with: ctes, write } = route(p, gate);
    return `
      WITH lock AS MATERIALIZED (
        SELECT pg_try_advisory_xact_lock(
          hashtextextended(${p.keyUserId}::uuid::text || ' ' || ${p.key}::text, 0)) AS free
      ),
      prior AS MATERIALIZED (
        SELECT fingerprint, status, headers, body FROM idempotency_keys
        WHERE user_id = ${p.keyUserId}::uuid AND key = ${p.key}::text AND expires_at > now()
      ),
      ${ctes ? `${ctes},` : ''}
      result AS (${write}),
      stored AS (
        INSERT INTO idempotency_keys (user_id, key, fingerprint, expires_at, status, headers, body)
        SELECT ${p.keyUserId}::uuid, ${p.key}::text, ${p.fingerprint}::bytea,
               now() + make_interval(secs => ${p.ttlSeconds}::float8), 201, '{}'::json,
               row_to_json(result)
        FROM result RETURNING body
      )
      SELECT lock.free, prior.fingerprint, prior.status, prior.headers, prior.body,
             (SELECT stored.body FROM stored) AS created
      FROM lock LEFT JOIN prior ON true`;
  });
  return { plain, keyed };
}

/** A key's stored answer. */
export interface StoredAnswer {
  fingerprint: Buffer;
  status: number;
  headers: Record<string, string> | null;
  body: unknown;
}

type KeyOf = { userId: string; key: string };
type ClaimRow = Partial<StoredAnswer> & { free: boolean; claimed: boolean };

export const SQL = {
  // Claims the caller's key, or finds its first answer. The advisory lock (held until the
  // transaction ends) tells at once that another transaction, on any instance, holds the same
  // key: 409 rather than waiting on the primary key for it to finish. Holding the lock, the
  // insert conflicts only with a committed row; an expired one is taken over.
  claim: statement<KeyOf & { fingerprint: Buffer; ttlSeconds: number }, ClaimRow>(
    'idempotencyKeys.claim',
    (p) => `
      WITH lock AS MATERIALIZED (
        SELECT pg_try_advisory_xact_lock(
          hashtextextended(${p.userId}::uuid::text || ' ' || ${p.key}::text, 0)) AS free
      ),
      claimed AS (
        INSERT INTO idempotency_keys AS k (user_id, key, fingerprint, expires_at)
        SELECT ${p.userId}::uuid, ${p.key}::text, ${p.fingerprint}::bytea,
               now() + make_interval(secs => ${p.ttlSeconds}::float8)
        FROM lock WHERE lock.free
        ON CONFLICT ON CONSTRAINT pk_idempotency_keys DO UPDATE
          SET fingerprint = excluded.fingerprint, created_at = now(),
              expires_at = excluded.expires_at, status = NULL, headers = NULL, body = NULL
          WHERE k.expires_at <= now()
        RETURNING 1
      )
      SELECT lock.free, EXISTS (SELECT 1 FROM claimed) AS claimed,
             k.fingerprint, k.status, k.headers, k.body
      FROM lock LEFT JOIN idempotency_keys k
        ON lock.free AND k.user_id = ${p.userId}::uuid AND k.key = ${p.key}::text
           AND k.expires_at > now()`,
  ),

  // A statement of its own (a new snapshot): sees an answer committed after an earlier
  // statement's snapshot was taken.
  read: statement<KeyOf, StoredAnswer>(
    'idempotencyKeys.read',
    (p) => `
      SELECT fingerprint, status, headers, body FROM idempotency_keys
      WHERE user_id = ${p.userId} AND key = ${p.key} AND expires_at > now()`,
  ),

  complete: statement<KeyOf & { status: number; headers: string; body: string | null }, never>(
    'idempotencyKeys.complete',
    (p) => `
      UPDATE idempotency_keys SET status = ${p.status}, headers = ${p.headers}, body = ${p.body}
      WHERE user_id = ${p.userId} AND key = ${p.key}`,
  ),

  // An expired key in the way of a keyed statement's INSERT.
  deleteExpired: statement<KeyOf, never>(
    'idempotencyKeys.deleteExpired',
    (p) => `
      DELETE FROM idempotency_keys
      WHERE user_id = ${p.userId} AND key = ${p.key} AND expires_at <= now()`,
  ),

  // Oldest first through ix_idempotency_keys_expires, a batch at a time; rows another instance
  // is purging or taking over are skipped.
  purge: statement<{ batch: number }, { count: number }>(
    'idempotencyKeys.purge',
    (p) => `
      WITH expired AS (
        SELECT user_id, key FROM idempotency_keys WHERE expires_at <= now()
        ORDER BY expires_at LIMIT ${p.batch} FOR UPDATE SKIP LOCKED
      ),
      deleted AS (
        DELETE FROM idempotency_keys k USING expired e
        WHERE k.user_id = e.user_id AND k.key = e.key RETURNING 1
      )
      SELECT count(*)::int AS count FROM deleted`,
  ),
};

@Injectable()
export class IdempotencyKeysRepository {
  constructor(private readonly sql: Sql) {}

  /** Claims the key in `tx`, or finds its answer (see SQL.claim). */
  async claim(
    tx: SqlRunner,
    params: KeyOf & { fingerprint: Buffer; ttlSeconds: number },
  ): Promise<ClaimRow> {
    const [row] = await tx.rows(SQL.claim, params);
    return row;
  }

  async read(params: KeyOf, db: SqlRunner = this.sql): Promise<StoredAnswer | null> {
    const [row] = await db.rows(SQL.read, params);
    return row ?? null;
  }

  /** Stores the answer of the request that claimed the key, in its transaction. */
  async complete(
    tx: SqlRunner,
    params: KeyOf & { status: number; headers: Record<string, string>; body: unknown },
  ): Promise<void> {
    await tx.rows(SQL.complete, {
      ...params,
      headers: JSON.stringify(params.headers),
      body: params.body === undefined ? null : JSON.stringify(params.body),
    });
  }

  async deleteExpired(params: KeyOf): Promise<void> {
    await this.sql.rows(SQL.deleteExpired, params);
  }

  /** Runs a route's statement wrapped by its key (see keyableStatement). */
  async runKeyed<P extends object, R>(
    route: KeyableStatement<P, R>,
    params: P & KeyParams,
  ): Promise<KeyedRow<R>> {
    const [row] = await this.sql.rows(route.keyed, params);
    return row;
  }

  /** Deletes up to `batch` expired keys; returns how many. */
  async purge(batch: number): Promise<number> {
    const [{ count }] = await this.sql.rows(SQL.purge, { batch });
    return count;
  }
}
