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
import { Sql, type SqlRunner } from '../database/sql.service';
import {
  IdempotencyKeysRepository,
  type KeyableStatement,
  type KeyedRow,
  type StoredAnswer,
} from './idempotency-keys.repository';
import type { IdempotentRequest } from './idempotent-request.decorator';

/** Expired keys deleted per statement by the purge. */
export const PURGE_BATCH = 1000;
/** The purge runs this often (or every TTL, when that is shorter). */
const PURGE_EVERY_MS = 10 * 60_000;

export const REPLAYED_HEADER = 'idempotent-replayed';

/** A route's keyable statement with its parameters, for IdempotencyService.run(). */
export interface KeyedRoute<P extends object, R, T> {
  statement: KeyableStatement<P, R>;
  params: P;
  /** The route's answer from its row; the key stores the row, so replays go through it too. */
  answer: (row: R) => T;
  /** The route's answer when its statement wrote nothing (e.g. 404): throws. */
  nothing: () => Promise<never>;
  /** Maps the route's database errors as its unkeyed form does (throws when it knows one). */
  error?: (error: unknown) => void;
}

/** 401 when the token is valid but its user was deleted since (the key's foreign key). */
function callerGone(error: unknown): void {
  if (error instanceof DatabaseError && error.constraint === 'fk_idempotency_keys_user') {
    throw new UnauthorizedException('Unauthorized');
  }
}

/** 409: another request with the key is being handled; the filter sends Retry-After. */
class KeyInUseException extends ConflictException {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('A request with this Idempotency-Key is still being handled; retry it shortly');
  }
}

/** How often a keyed statement is run again after an expired key was in its way. */
const KEYED_ATTEMPTS = 3;

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
   * The route's one write statement (a keyableStatement), run wrapped by the key instead of the
   * transaction: a keyed request then costs one statement, as an unkeyed one does.
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each route's own parameters and row
  oneStatement?: () => KeyedRoute<any, any, T>;
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
    private readonly keys: IdempotencyKeysRepository,
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
    if (options.oneStatement) return this.runKeyed(userId, request, options.oneStatement());
    let replayed = false;
    const answer = await this.sql.transaction(async (tx) => {
      const stored = await this.claim(tx, userId, key, fingerprint);
      if (stored) {
        replayed = true;
        return this.replay(stored, request) as T;
      }
      const result = await work(tx);
      const headers = options.headers?.(result) ?? {};
      await this.keys.complete(tx, {
        userId,
        key,
        status: reply.statusCode,
        headers,
        body: result,
      });
      void reply.headers(headers);
      return result;
    });
    if (!replayed) options.afterCommit?.(answer);
    return answer;
  }

  /** A keyed request as the route's one statement wrapped by the key. */
  private async runKeyed<P extends object, R, T>(
    userId: string,
    request: IdempotentRequest,
    route: KeyedRoute<P, R, T>,
  ): Promise<T> {
    const { key, fingerprint } = request as { key: string; fingerprint: Buffer };
    for (let attempt = 1; ; attempt++) {
      let row: KeyedRow<R>;
      try {
        row = await this.keys.runKeyed(route.statement, {
          ...route.params,
          keyUserId: userId,
          key,
          fingerprint,
          ttlSeconds: this.ttlSeconds,
        });
      } catch (error) {
        if (!(error instanceof DatabaseError && error.constraint === 'pk_idempotency_keys')) {
          callerGone(error);
          route.error?.(error);
          throw error;
        }
        // Committed after the statement's snapshot, or expired: look again.
        const stored = await this.keys.read({ userId, key });
        if (stored) return route.answer(this.replay(stored, request) as R);
        if (attempt >= KEYED_ATTEMPTS) throw new KeyInUseException();
        await this.keys.deleteExpired({ userId, key });
        continue;
      }
      if (row.fingerprint) return route.answer(this.replay(row as StoredAnswer, request) as R);
      if (!row.free) throw new KeyInUseException();
      if (row.created !== null) return route.answer(row.created);
      return route.nothing();
    }
  }

  /** The stored answer, its status and headers on the reply, when the request is the same. */
  private replay(stored: StoredAnswer, request: IdempotentRequest): unknown {
    if (!stored.fingerprint.equals(request.fingerprint!)) {
      throw new UnprocessableEntityException(
        'This Idempotency-Key was already used for another request (a different body or route)',
      );
    }
    void request.reply
      .status(stored.status)
      .headers({ ...stored.headers, [REPLAYED_HEADER]: 'true' });
    return stored.body;
  }

  /** The stored answer to replay, or null when this request claimed the key. */
  private async claim(
    tx: SqlRunner,
    userId: string,
    key: string,
    fingerprint: Buffer,
  ): Promise<StoredAnswer | null> {
    let row: Awaited<ReturnType<IdempotencyKeysRepository['claim']>>;
    try {
      row = await this.keys.claim(tx, { userId, key, fingerprint, ttlSeconds: this.ttlSeconds });
    } catch (error) {
      callerGone(error);
      throw error;
    }
    if (row.claimed) return null;
    const stored = row.free
      ? row.fingerprint
        ? (row as StoredAnswer)
        : await this.keys.read({ userId, key }, tx)
      : null;
    if (!stored) throw new KeyInUseException();
    return stored;
  }

  /** Deletes expired keys, a batch per statement, until none is left; returns how many. */
  async purgeExpired(batch = PURGE_BATCH): Promise<number> {
    let total = 0;
    for (;;) {
      const count = await this.keys.purge(batch);
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
