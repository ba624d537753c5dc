import {
  ConflictException,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
  UnauthorizedException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DatabaseError } from 'pg';
import type { AppConfig } from '../config/configuration';
import { Sql, SqlRunner, LegacyStatement, statement } from '../database/sql.service';
import type { IdempotentRequest } from './idempotent-request.decorator';

/** Expired keys deleted per statement by the purge. */
export const PURGE_BATCH = 1000;
/** The purge runs this often (or every TTL, when that is shorter). */
const PURGE_EVERY_MS = 10 * 60_000;

export const REPLAYED_HEADER = 'idempotent-replayed';

export const SQL = {
  // Claims the caller's key, or finds its first answer. The advisory lock (held until the
  // transaction ends) tells at once that another transaction, on any instance, holds the same
  // key: 409 rather than waiting on the primary key for it to finish. Holding the lock, the
  // insert conflicts only with a committed row; an expired one is taken over.
  claim: statement(
    'idempotency.claim',
    `
    WITH lock AS MATERIALIZED (
      SELECT pg_try_advisory_xact_lock(hashtextextended($1::uuid::text || ' ' || $2::text, 0)) AS free
    ),
    claimed AS (
      INSERT INTO idempotency_keys AS k (user_id, key, fingerprint, expires_at)
      SELECT $1::uuid, $2::text, $3::bytea, now() + make_interval(secs => $4::float8)
      FROM lock WHERE lock.free
      ON CONFLICT ON CONSTRAINT pk_idempotency_keys DO UPDATE
        SET fingerprint = excluded.fingerprint, created_at = now(), expires_at = excluded.expires_at,
            status = NULL, headers = NULL, body = NULL
        WHERE k.expires_at <= now()
      RETURNING 1
    )
    SELECT lock.free, EXISTS (SELECT 1 FROM claimed) AS claimed,
           k.fingerprint, k.status, k.headers, k.body
    FROM lock LEFT JOIN idempotency_keys k
      ON lock.free AND k.user_id = $1::uuid AND k.key = $2::text AND k.expires_at > now()`,
  ),

  // The claim's snapshot predates its lock: a first request that committed in between is read
  // here, by a statement of its own (a new snapshot).
  read: statement(
    'idempotency.read',
    `
    SELECT fingerprint, status, headers, body FROM idempotency_keys
    WHERE user_id = $1 AND key = $2 AND expires_at > now()`,
  ),

  complete: statement(
    'idempotency.complete',
    `UPDATE idempotency_keys SET status = $3, headers = $4, body = $5 WHERE user_id = $1 AND key = $2`,
  ),

  // Oldest first through ix_idempotency_keys_expires, a batch at a time; rows another instance
  // is purging or taking over are skipped.
  purge: statement(
    'idempotency.purge',
    `
    WITH expired AS (
      SELECT user_id, key FROM idempotency_keys WHERE expires_at <= now()
      ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED
    ),
    deleted AS (
      DELETE FROM idempotency_keys k USING expired e
      WHERE k.user_id = e.user_id AND k.key = e.key RETURNING 1
    )
    SELECT count(*)::int AS count FROM deleted`,
  ),
};

/**
 * A route's one write statement and its idempotency in that same statement, so that a keyed
 * request costs what an unkeyed one does: one statement, on the pipelined connections, instead
 * of a transaction of five on a pool connection. The caller's key is locked (the advisory lock
 * of SQL.claim, so both forms exclude each other), its live row read, and the route's writes
 * happen only when the lock was free and there is no row; then the key's row is inserted with
 * the answer, built as JSON by PostgreSQL and sent as it is stored (first answer and replays
 * are the same JSON). A plain INSERT: a row committed after this statement's snapshot, or an
 * expired one, makes it fail (23505) and roll back entirely; IdempotencyService reads again.
 *
 * `ctes(gate)` are the route's CTEs, `gate` added to the WHERE of its first write, the last CTE
 * named `work`; `body` is the answer as a json expression over `work`. The key, fingerprint and
 * TTL are the parameters after the route's `params`; `user` is the route's parameter of the
 * caller's id. The answer is always 201 without headers of its own.
 */
export function keyedStatement(
  name: string,
  route: { params: number; user: string; ctes: (gate: string) => string; body: string },
): LegacyStatement {
  const [key, fingerprint, ttl] = [1, 2, 3].map((i) => `$${route.params + i}`);
  const user = `${route.user}::uuid`;
  return statement(
    name,
    `
    WITH lock AS MATERIALIZED (
      SELECT pg_try_advisory_xact_lock(hashtextextended(${user}::text || ' ' || ${key}::text, 0)) AS free
    ),
    prior AS MATERIALIZED (
      SELECT fingerprint, status, headers, body FROM idempotency_keys
      WHERE user_id = ${user} AND key = ${key}::text AND expires_at > now()
    ),
    ${route.ctes('(SELECT free FROM lock) AND NOT EXISTS (SELECT 1 FROM prior)')},
    stored AS (
      INSERT INTO idempotency_keys (user_id, key, fingerprint, expires_at, status, headers, body)
      SELECT ${user}, ${key}::text, ${fingerprint}::bytea,
             now() + make_interval(secs => ${ttl}::float8), 201, '{}'::json, ${route.body}
      FROM work RETURNING body
    )
    SELECT lock.free, p.fingerprint, p.status, p.headers, p.body,
           (SELECT stored.body FROM stored) AS created
    FROM lock LEFT JOIN prior p ON true`,
  );
}

/** A route's keyedStatement() with its own parameters, for IdempotencyService.run(). */
export interface OneStatement {
  statement: LegacyStatement;
  params: unknown[];
  /** The route's answer when its statement wrote nothing (e.g. 404): throws. */
  nothing: () => Promise<never>;
  /** Maps the route's database errors as its unkeyed form does (throws when it knows one). */
  error?: (error: unknown) => void;
}

interface KeyedRow extends Partial<StoredAnswer> {
  free: boolean;
  created: unknown;
}

/** 401 when the token is valid but its user was deleted since (the key's foreign key). */
function callerGone(error: unknown): void {
  if (error instanceof DatabaseError && error.constraint === 'fk_idempotency_keys_user') {
    throw new UnauthorizedException('Unauthorized');
  }
}

/** The outcome that sends a keyed request down the transaction path after all. */
const TAKE_OVER = Symbol('take over');

interface StoredAnswer {
  fingerprint: Buffer;
  status: number;
  headers: Record<string, string> | null;
  body: unknown;
}

interface ClaimRow extends Partial<StoredAnswer> {
  free: boolean;
  claimed: boolean;
}

export interface RunOptions<T> {
  /**
   * Response headers that follow from the result (e.g. Location): set on the reply, stored with
   * the key and given again to every retry.
   */
  headers?: (result: T) => Record<string, string>;
  /**
   * Runs once `work`'s transaction has committed, only for the request that did the work (never
   * for a replay): where to start what must not run twice and must not run before the commit,
   * such as a model request.
   */
  afterCommit?: (result: T) => void;
  /**
   * `work` needs one transaction even without a key (several statements that stand or fall
   * together); with a key it always has one.
   */
  transaction?: boolean;
  /**
   * The route's writes as one keyedStatement(), used for a keyed request instead of the
   * transaction (except to take over an expired key).
   */
  oneStatement?: () => OneStatement;
}

/**
 * Idempotent POSTs (IETF draft "The Idempotency-Key HTTP Header Field"): the first request with
 * a key runs and its answer is stored with the key, in the transaction that creates the
 * resource; a retry with the same key and request gets that answer again. Keys are per user
 * and kept for IDEMPOTENCY_TTL_SECONDS.
 */
@Injectable()
export class IdempotencyService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly ttlSeconds: number;
  private readonly logger = new Logger('Idempotency');
  private timer: NodeJS.Timeout | undefined;
  private purging: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly sql: Sql,
    config: ConfigService<AppConfig, true>,
  ) {
    this.ttlSeconds = config.get('idempotency.ttlSeconds', { infer: true });
  }

  /**
   * Runs `work` (the route's writes, through the runner it is given) at most once per key.
   * - No key: `work(sql)`, exactly what the route costs without idempotency (in a transaction
   *   of its own with `options.transaction`).
   * - A new key: with `options.oneStatement`, that one statement (see keyedStatement());
   *   otherwise, or to take over an expired key, one transaction of BEGIN, claim, `work(tx)`,
   *   storing the answer, COMMIT.
   * - The key's first answer exists and the request is the same: that answer (status, headers,
   *   body) with `Idempotent-Replayed: true`; `work` does not run.
   * - The same key with another body or route: 422. Still being handled: 409.
   * Only answers that `work` returns are stored: when it throws, its transaction (the key
   * included) is rolled back, nothing was created, and a retry runs afresh.
   */
  async run<T>(
    userId: string,
    request: IdempotentRequest,
    work: (db: SqlRunner) => Promise<T>,
    options: RunOptions<T> = {},
  ): Promise<T> {
    const { key, fingerprint, reply } = request;
    if (key === null || fingerprint === null) {
      const result = options.transaction ? await this.sql.transaction(work) : await work(this.sql);
      if (options.headers) void reply.headers(options.headers(result));
      options.afterCommit?.(result);
      return result;
    }
    if (options.oneStatement) {
      const answer = await this.runOneStatement(userId, request, options.oneStatement());
      if (answer !== TAKE_OVER) return answer as T;
    }
    let replayed = false;
    const answer = await this.sql.transaction(async (tx) => {
      const stored = await this.claim(tx, userId, key, fingerprint, request);
      if (stored) {
        replayed = true;
        return this.replay<T>(stored, request);
      }
      const result = await work(tx);
      const headers = options.headers?.(result) ?? {};
      await tx.rows(SQL.complete, [
        userId,
        key,
        reply.statusCode,
        JSON.stringify(headers),
        result === undefined ? null : JSON.stringify(result),
      ]);
      void reply.headers(headers);
      return result;
    });
    if (!replayed) options.afterCommit?.(answer);
    return answer;
  }

  /** A keyed request as one statement, or TAKE_OVER when an expired key is in its way. */
  private async runOneStatement(
    userId: string,
    request: IdempotentRequest,
    one: OneStatement,
  ): Promise<unknown> {
    const { key, fingerprint } = request as { key: string; fingerprint: Buffer };
    let row: KeyedRow;
    try {
      [row] = await this.sql.rows<KeyedRow>(one.statement, [
        ...one.params,
        key,
        fingerprint,
        this.ttlSeconds,
      ]);
    } catch (error) {
      if (!(error instanceof DatabaseError && error.constraint === 'pk_idempotency_keys')) {
        callerGone(error);
        one.error?.(error);
        throw error;
      }
      const [stored] = await this.sql.rows<StoredAnswer>(SQL.read, [userId, key]);
      return stored ? this.replay(stored, request) : TAKE_OVER;
    }
    if (row.fingerprint) return this.replay(row as StoredAnswer, request);
    if (!row.free) this.stillHandled(request);
    if (row.created !== null) return row.created;
    return one.nothing();
  }

  /** The stored answer, on the reply, when the request is the same as the first. */
  private replay<T>(stored: StoredAnswer, request: IdempotentRequest): T {
    this.assertSameRequest(stored, request.fingerprint!);
    void request.reply
      .status(stored.status)
      .headers({ ...stored.headers, [REPLAYED_HEADER]: 'true' });
    return stored.body as T;
  }

  private stillHandled(request: IdempotentRequest): never {
    void request.reply.header('retry-after', '1');
    throw new ConflictException(
      'A request with this Idempotency-Key is still being handled; retry it shortly',
    );
  }

  private assertSameRequest(stored: StoredAnswer, fingerprint: Buffer): void {
    if (!stored.fingerprint.equals(fingerprint)) {
      throw new UnprocessableEntityException(
        'This Idempotency-Key was already used for another request (a different body or route)',
      );
    }
  }

  /** The stored answer to replay, or null when this request claimed the key. */
  private async claim(
    tx: SqlRunner,
    userId: string,
    key: string,
    fingerprint: Buffer,
    request: IdempotentRequest,
  ): Promise<StoredAnswer | null> {
    let row: ClaimRow;
    try {
      [row] = await tx.rows<ClaimRow>(SQL.claim, [userId, key, fingerprint, this.ttlSeconds]);
    } catch (error) {
      callerGone(error);
      throw error;
    }
    if (row.claimed) return null;
    const stored = row.free
      ? row.fingerprint
        ? (row as StoredAnswer)
        : (await tx.rows<StoredAnswer>(SQL.read, [userId, key]))[0]
      : undefined;
    if (!stored) this.stillHandled(request);
    return stored;
  }

  /** Deletes expired keys, a batch per statement, until none is left; returns how many. */
  async purgeExpired(batch = PURGE_BATCH): Promise<number> {
    let total = 0;
    for (;;) {
      const [{ count }] = await this.sql.rows<{ count: number }>(SQL.purge, [batch]);
      total += count;
      if (count < batch) return total;
    }
  }

  onApplicationBootstrap(): void {
    const every = Math.min(PURGE_EVERY_MS, this.ttlSeconds * 1000);
    this.timer = setInterval(() => {
      this.purging = this.purgeExpired().catch((error: Error) =>
        this.logger.warn(`Purging expired idempotency keys failed: ${error.name}`),
      );
    }, every).unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.purging;
  }
}
