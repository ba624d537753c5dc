import { Injectable } from '@nestjs/common';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement, type ParamsOf } from '../database/statement';
import type { SessionResponseDto } from './dto/session-response.dto';

export type RevokeReason =
  | 'logout'
  | 'revoked'
  | 'others_revoked'
  | 'password_changed'
  | 'refresh_token_reused'
  | 'user_deleted';

/** A session a statement revoked. */
export interface Revoked {
  id: string;
}

/** A session locked for a refresh, with its user. */
export interface LockedSession {
  userId: string;
  generation: number;
  tokenHash: Buffer;
  previousTokenHash: Buffer | null;
  rotatedAt: Date | null;
  idleExpiresAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  email: string;
  displayName: string | null;
  createdAt: Date;
}

type Revoking = { at: Date; reason: RevokeReason };

/**
 * Revokes the sessions `condition` selects; `prefix` adds CTEs before it. Revoked, a session's
 * access tokens fail from the next statement that checks it (live_session), on every
 * instance.
 */
function revoking(at: string, reason: string, condition: string, prefix = ''): string {
  return `
    WITH ${prefix} revoked AS (
      UPDATE sessions s SET revoked_at = ${at}, revoked_reason = ${reason}
      WHERE ${condition} AND s.revoked_at IS NULL
      RETURNING s.id
    )
    SELECT id FROM revoked`;
}

/** The caller's session proves itself live (see the LiveSession migration). */
const callerLive = (session: string, user: string) =>
  `EXISTS (SELECT FROM live_session(${session}, ${user}))`;

export const SQL = {
  open: statement<
    {
      id: string;
      userId: string;
      tokenHash: Buffer;
      now: Date;
      idleExpiresAt: Date;
      expiresAt: Date;
      accessExpiresAt: Date;
      userAgent: string | null;
    },
    never
  >(
    'sessions.open',
    (p) => `
      INSERT INTO sessions (id, user_id, token_hash, created_at, last_used_at, idle_expires_at,
                            expires_at, access_expires_at, user_agent)
      VALUES (${p.id}, ${p.userId}, ${p.tokenHash}, ${p.now}, ${p.now}, ${p.idleExpiresAt},
              ${p.expiresAt}, ${p.accessExpiresAt}, ${p.userAgent})`,
  ),

  // The row lock serialises refreshes of one session across instances: the second waits, then
  // sees the first's rotation and gets the grace answer.
  lockForRefresh: statement<{ id: string }, LockedSession>(
    'sessions.lockForRefresh',
    (p) => `
      SELECT s.user_id AS "userId", s.generation, s.token_hash AS "tokenHash",
             s.previous_token_hash AS "previousTokenHash", s.rotated_at AS "rotatedAt",
             s.idle_expires_at AS "idleExpiresAt", s.expires_at AS "expiresAt",
             s.revoked_at AS "revokedAt",
             u.email, u.display_name AS "displayName", u.created_at AS "createdAt"
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ${p.id} FOR UPDATE OF s`,
  ),

  rotate: statement<
    { id: string; tokenHash: Buffer; now: Date; idleExpiresAt: Date; accessExpiresAt: Date },
    never
  >(
    'sessions.rotate',
    (p) => `
      UPDATE sessions SET generation = generation + 1, previous_token_hash = token_hash,
        token_hash = ${p.tokenHash}, rotated_at = ${p.now}, last_used_at = ${p.now},
        idle_expires_at = ${p.idleExpiresAt},
        access_expires_at = greatest(access_expires_at, ${p.accessExpiresAt})
      WHERE id = ${p.id}`,
  ),

  grace: statement<{ id: string; now: Date; accessExpiresAt: Date }, never>(
    'sessions.grace',
    (p) => `
      UPDATE sessions SET last_used_at = ${p.now},
        access_expires_at = greatest(access_expires_at, ${p.accessExpiresAt})
      WHERE id = ${p.id}`,
  ),

  revokeOne: statement<Revoking & { id: string }, Revoked>('sessions.revokeOne', (p) =>
    revoking(p.at, p.reason, `s.id = ${p.id}`),
  ),
  // `sessionId` is the caller's own.
  revokeOfUser: statement<Revoking & { id: string; userId: string; sessionId: string }, Revoked>(
    'sessions.revokeOfUser',
    (p) =>
      revoking(
        p.at,
        p.reason,
        `s.id = ${p.id} AND s.user_id = ${p.userId} AND ${callerLive(p.sessionId, p.userId)}`,
      ),
  ),
  // `keepId` is the caller's own session.
  revokeOthers: statement<Revoking & { userId: string; keepId: string }, Revoked>(
    'sessions.revokeOthers',
    (p) =>
      revoking(
        p.at,
        p.reason,
        `s.user_id = ${p.userId} AND s.id <> ${p.keepId} AND ${callerLive(p.keepId, p.userId)}`,
      ),
  ),
  // The new hash and the revocation of the other sessions in one statement: both or neither.
  changePassword: statement<
    Revoking & { userId: string; keepId: string; passwordHash: string },
    Revoked
  >('sessions.changePassword', (p) =>
    revoking(
      p.at,
      p.reason,
      `s.user_id = (SELECT id FROM changed) AND s.id <> ${p.keepId}`,
      `changed AS (
        UPDATE users SET password_hash = ${p.passwordHash}, updated_at = now()
        WHERE id = ${p.userId} AND ${callerLive(p.keepId, p.userId)} RETURNING id
      ),`,
    ),
  ),

  // Empty when the caller's own session (`sessionId`) is not live.
  list: statement<
    { userId: string; sessionId: string; now: Date },
    Omit<SessionResponseDto, 'current'>
  >(
    'sessions.list',
    (p) => `
      SELECT id, created_at AS "createdAt", last_used_at AS "lastUsedAt",
             least(idle_expires_at, expires_at) AS "expiresAt", user_agent AS "userAgent"
      FROM sessions
      WHERE user_id = ${p.userId} AND revoked_at IS NULL
        AND idle_expires_at > ${p.now} AND expires_at > ${p.now}
        AND ${callerLive(p.sessionId, p.userId)}
      ORDER BY created_at DESC, id DESC`,
    { isoTimestamps: true },
  ),

  // A statement found nothing: was it because the caller's session is no longer live?
  isLive: statement<{ id: string; userId: string }, { live: boolean }>(
    'sessions.isLive',
    (p) => `SELECT EXISTS (SELECT FROM live_session(${p.id}, ${p.userId})) AS live`,
  ),

  purge: statement<Record<never, never>, never>(
    'sessions.purge',
    () => `
      DELETE FROM sessions WHERE id IN (
        SELECT id FROM sessions WHERE expires_at < now() - interval '1 day'
        UNION ALL
        SELECT id FROM sessions
        WHERE revoked_at IS NOT NULL AND access_expires_at < now() - interval '1 day'
        LIMIT 10000)`,
  ),
};

/** Every statement on `sessions`. */
@Injectable()
export class SessionsRepository {
  constructor(private readonly sql: Sql) {}

  async open(params: ParamsOf<typeof SQL.open>): Promise<void> {
    await this.sql.rows(SQL.open, params);
  }

  /** The session and its user, locked in `tx` until it ends (null: no such session or user). */
  async lockForRefresh(tx: SqlRunner, id: string): Promise<LockedSession | null> {
    const [row] = await tx.rows(SQL.lockForRefresh, { id });
    return row ?? null;
  }

  async rotate(tx: SqlRunner, params: ParamsOf<typeof SQL.rotate>): Promise<void> {
    await tx.rows(SQL.rotate, params);
  }

  async grace(tx: SqlRunner, params: ParamsOf<typeof SQL.grace>): Promise<void> {
    await tx.rows(SQL.grace, params);
  }

  revokeOne(params: ParamsOf<typeof SQL.revokeOne>, db: SqlRunner = this.sql): Promise<Revoked[]> {
    return db.rows(SQL.revokeOne, params);
  }

  revokeOfUser(params: ParamsOf<typeof SQL.revokeOfUser>): Promise<Revoked[]> {
    return this.sql.rows(SQL.revokeOfUser, params);
  }

  revokeOthers(params: ParamsOf<typeof SQL.revokeOthers>): Promise<Revoked[]> {
    return this.sql.rows(SQL.revokeOthers, params);
  }

  changePassword(params: ParamsOf<typeof SQL.changePassword>): Promise<Revoked[]> {
    return this.sql.rows(SQL.changePassword, params);
  }

  list(params: ParamsOf<typeof SQL.list>): Promise<Omit<SessionResponseDto, 'current'>[]> {
    return this.sql.rows(SQL.list, params);
  }

  async isLive(params: ParamsOf<typeof SQL.isLive>): Promise<boolean> {
    const [{ live }] = await this.sql.rows(SQL.isLive, params);
    return live;
  }

  async purge(): Promise<void> {
    await this.sql.rows(SQL.purge, {});
  }
}
