import { Injectable } from '@nestjs/common';
import { Sql, type SqlRunner } from '../database/sql.service';
import { statement, type ParamsOf } from '../database/statement';
import { SESSIONS_REVOKED } from './auth-channels';
import type { SessionResponseDto } from './dto/session-response.dto';

export type RevokeReason =
  | 'logout'
  | 'revoked'
  | 'others_revoked'
  | 'password_changed'
  | 'refresh_token_reused'
  | 'user_deleted';

/** A session revoked by a statement, and when its newest access token expires. */
export interface Revoked {
  id: string;
  accessExpiresAtMs: number;
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
 * Revokes the sessions `condition` selects and, in the same statement, tells every instance
 * (NOTIFY is sent when the statement commits; payloads of at most 150 entries stay far below
 * PostgreSQL's 8000-byte limit). `prefix` adds CTEs before it.
 */
function revoking(at: string, reason: string, condition: string, prefix = ''): string {
  return `
    WITH ${prefix} revoked AS (
      UPDATE sessions s SET revoked_at = ${at}, revoked_reason = ${reason}
      WHERE ${condition} AND s.revoked_at IS NULL
      RETURNING s.id, (extract(epoch FROM s.access_expires_at) * 1000)::bigint AS until
    ), notified AS (
      SELECT pg_notify('${SESSIONS_REVOKED.name}', json_agg(json_build_array(id, until))::text)
      FROM (SELECT id, until, (row_number() OVER ()) / 150 AS chunk FROM revoked) r GROUP BY chunk
    )
    SELECT r.id, r.until::float8 AS "accessExpiresAtMs"
    FROM revoked r CROSS JOIN (SELECT count(*) FROM notified) n`;
}

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
  revokeOfUser: statement<Revoking & { id: string; userId: string }, Revoked>(
    'sessions.revokeOfUser',
    (p) => revoking(p.at, p.reason, `s.id = ${p.id} AND s.user_id = ${p.userId}`),
  ),
  revokeOthers: statement<Revoking & { userId: string; keepId: string }, Revoked>(
    'sessions.revokeOthers',
    (p) => revoking(p.at, p.reason, `s.user_id = ${p.userId} AND s.id <> ${p.keepId}`),
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
        WHERE id = ${p.userId} RETURNING id
      ),`,
    ),
  ),

  list: statement<{ userId: string; now: Date }, Omit<SessionResponseDto, 'current'>>(
    'sessions.list',
    (p) => `
      SELECT id, created_at AS "createdAt", last_used_at AS "lastUsedAt",
             least(idle_expires_at, expires_at) AS "expiresAt", user_agent AS "userAgent"
      FROM sessions
      WHERE user_id = ${p.userId} AND revoked_at IS NULL
        AND idle_expires_at > ${p.now} AND expires_at > ${p.now}
      ORDER BY created_at DESC, id DESC`,
    { isoTimestamps: true },
  ),

  // JwtAuthGuard's one look-up on routes that need the user: the user and their live session.
  caller: statement<
    { id: string; userId: string },
    { id: string; email: string; displayName: string | null; createdAt: Date }
  >(
    'sessions.caller',
    (p) => `
      SELECT u.id, u.email, u.display_name AS "displayName", u.created_at AS "createdAt"
      FROM sessions s JOIN users u ON u.id = s.user_id
      WHERE s.id = ${p.id} AND s.user_id = ${p.userId} AND s.revoked_at IS NULL`,
  ),

  isLive: statement<{ id: string; userId: string }, { live: boolean }>(
    'sessions.isLive',
    (p) => `
      SELECT EXISTS (
        SELECT 1 FROM sessions
        WHERE id = ${p.id} AND user_id = ${p.userId} AND revoked_at IS NULL
      ) AS live`,
  ),

  // Revoked sessions whose access tokens may still be unexpired (see RevokedSessions), over
  // ix_sessions_revoked_access.
  loadRevoked: statement<Record<never, never>, Revoked>(
    'sessions.loadRevoked',
    () => `
      SELECT id, (extract(epoch FROM access_expires_at) * 1000)::float8 AS "accessExpiresAtMs"
      FROM sessions WHERE revoked_at IS NOT NULL AND access_expires_at > now()`,
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

  async caller(params: ParamsOf<typeof SQL.caller>) {
    const [row] = await this.sql.rows(SQL.caller, params);
    return row ?? null;
  }

  async isLive(params: ParamsOf<typeof SQL.isLive>): Promise<boolean> {
    const [{ live }] = await this.sql.rows(SQL.isLive, params);
    return live;
  }

  loadRevoked(): Promise<Revoked[]> {
    return this.sql.rows(SQL.loadRevoked, {});
  }

  async purge(): Promise<void> {
    await this.sql.rows(SQL.purge, {});
  }
}
