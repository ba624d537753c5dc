import { randomUUID } from 'node:crypto';
import {
  HttpException,
  HttpStatus,
  Injectable,
  Logger,
  UnauthorizedException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { DatabaseError } from 'pg';
import type { TokenCaller } from '../auth/auth-user';
import type { AppConfig, EventStreamsSection } from '../config/configuration';
import { Sql, statement } from '../database/sql.service';
import { InstanceLease, LEASE_CLASS } from './instance-lease';
import { ModelCatalog } from './model-catalog';

/** What a refused stream's client is told to wait: streams close as their replies end. */
export const EVENT_STREAM_RETRY_AFTER_SECONDS = 3;

/** 429 for the caps on open event streams, with Retry-After. */
export class TooManyEventStreamsException extends HttpException {
  readonly retryAfterSeconds = EVENT_STREAM_RETRY_AFTER_SECONDS;
  constructor(message: string) {
    super(message, HttpStatus.TOO_MANY_REQUESTS);
  }
}

const SQL = {
  // Insert if under both caps, the user's opens serialised on every instance (see the
  // migration CreateEventStreams). $1 id, $2 user, $3 session, $4 instance, $5/$6 the caps.
  open: statement(
    'eventStreams.open',
    `SELECT event_stream_open($1, $2, $3, $4, $5, $6) AS refused`,
  ),
  close: statement('eventStreams.close', `DELETE FROM event_streams WHERE id = $1`),
  // The rows of dead instances (they no longer count anyway), and with $2 this instance's own:
  // at start-up any row with its key is from an earlier process that held the same key.
  sweep: statement(
    'eventStreams.sweep',
    `
    WITH live AS MATERIALIZED (
      SELECT l.objid FROM pg_locks l
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = ${LEASE_CLASS}::oid
    )
    DELETE FROM event_streams e
    WHERE CASE WHEN e.instance_key = $1 THEN $2::boolean
          ELSE NOT EXISTS (SELECT 1 FROM live WHERE live.objid = e.instance_key::oid) END`,
  ),
};

/**
 * The caps on open event streams per user and per session, across instances: a row per open
 * stream (one statement to open, one to close). Rows whose close failed are deleted again at
 * the next sweep; rows of dead instances are not counted once a cap is reached, and swept.
 */
@Injectable()
export class EventStreamSlots {
  private readonly logger = new Logger('EventStreamSlots');
  private readonly unreleased = new Set<string>();
  readonly limits: EventStreamsSection;

  constructor(
    private readonly sql: Sql,
    private readonly lease: InstanceLease,
    private readonly catalog: ModelCatalog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.limits = config.get('eventStreams', { infer: true });
  }

  /** Takes a slot for a stream of the caller, or throws the 429; returns its release. */
  async open(caller: TokenCaller): Promise<() => void> {
    this.catalog.assertEnabled();
    const id = randomUUID();
    let refused: 'session' | 'user' | null;
    try {
      [{ refused }] = await this.sql.rows<{ refused: 'session' | 'user' | null }>(SQL.open, [
        id,
        caller.id,
        caller.sessionId,
        this.lease.key,
        this.limits.perUser,
        this.limits.perSession,
      ]);
    } catch (error) {
      // The user was deleted meanwhile.
      if (error instanceof DatabaseError && error.code === '23503') {
        throw new UnauthorizedException('Unauthorized');
      }
      throw error;
    }
    if (refused === 'session') {
      throw new TooManyEventStreamsException(
        `At most ${this.limits.perSession} event streams can be open at once per session`,
      );
    }
    if (refused === 'user') {
      throw new TooManyEventStreamsException(
        `At most ${this.limits.perUser} event streams can be open at once per user`,
      );
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release(id);
    };
  }

  private release(id: string): void {
    this.sql.rows(SQL.close, [id]).catch(() => this.unreleased.add(id));
  }

  /** Deletes the rows of dead instances, and those whose close failed; `own`: at start-up. */
  async sweep(own = false): Promise<void> {
    try {
      for (const id of [...this.unreleased]) {
        await this.sql.rows(SQL.close, [id]);
        this.unreleased.delete(id);
      }
      await this.sql.rows(SQL.sweep, [this.lease.key, own]);
    } catch (error) {
      this.logger.warn({
        msg: 'Sweep of event streams failed',
        errType: (error as Error)?.name,
      });
    }
  }
}
