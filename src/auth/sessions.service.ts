import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/configuration';
import { Sql, statement } from '../database/sql.service';
import type { AuthUser, JwtPayload } from './auth-user';
import { Clock } from './clock';
import { RefreshTokens, sameHash } from './refresh-tokens';
import { RevokedSessions, SESSIONS_REVOKED } from './revoked-sessions';
import { SessionResponseDto } from './dto/session-response.dto';

/** A spent refresh token presented again within this long of its rotation gets the grace answer. */
export const REFRESH_GRACE_MS = 10_000;
const DAY_MS = 86_400_000;
const USER_AGENT_MAX = 512;

export type RevokeReason =
  'logout' | 'revoked' | 'others_revoked' | 'password_changed' | 'refresh_token_reused';

type User = Omit<AuthUser, 'sessionId'>;

/** What opening or refreshing a session hands out. */
export interface IssuedSession {
  user: User;
  sessionId: string;
  accessToken: string;
  /** Seconds the access token lives. */
  expiresIn: number;
  /** A new refresh token and its cookie lifetime; absent on the grace answer (no rotation). */
  refresh?: { token: string; maxAgeSeconds: number };
}

/**
 * Revokes the sessions `condition` selects and, in the same statement, tells every instance
 * (NOTIFY is sent when the statement commits; payloads of at most 150 entries stay far below
 * PostgreSQL's 8000-byte limit). `$1` is the time, `$2` the reason; the condition uses `$3…`.
 */
function revoking(name: string, condition: string, prefix = '') {
  return statement(
    name,
    `
    WITH ${prefix} revoked AS (
      UPDATE sessions s SET revoked_at = $1, revoked_reason = $2
      WHERE ${condition} AND s.revoked_at IS NULL
      RETURNING s.id, (extract(epoch FROM s.access_expires_at) * 1000)::bigint AS until
    ), notified AS (
      SELECT pg_notify('${SESSIONS_REVOKED.name}', json_agg(json_build_array(id, until))::text)
      FROM (SELECT id, until, (row_number() OVER ()) / 150 AS chunk FROM revoked) r GROUP BY chunk
    )
    SELECT r.id, r.until::float8 AS "accessExpiresAtMs"
    FROM revoked r CROSS JOIN (SELECT count(*) FROM notified) n`,
  );
}

const SQL = {
  open: statement(
    'sessions.open',
    `
    INSERT INTO sessions (id, user_id, token_hash, created_at, last_used_at, idle_expires_at,
                          expires_at, access_expires_at, user_agent)
    VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)`,
  ),
  // The row lock serialises refreshes of one session across instances: the second waits, then
  // sees the first's rotation and gets the grace answer.
  lockForRefresh: statement(
    'sessions.lockForRefresh',
    `
    SELECT s.user_id AS "userId", s.generation, s.token_hash AS "tokenHash",
           s.previous_token_hash AS "previousTokenHash", s.rotated_at AS "rotatedAt",
           s.idle_expires_at AS "idleExpiresAt", s.expires_at AS "expiresAt",
           s.revoked_at AS "revokedAt",
           u.email, u.display_name AS "displayName", u.created_at AS "createdAt"
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $1 FOR UPDATE OF s`,
  ),
  rotate: statement(
    'sessions.rotate',
    `
    UPDATE sessions SET generation = generation + 1, previous_token_hash = token_hash,
      token_hash = $2, rotated_at = $3, last_used_at = $3, idle_expires_at = $4,
      access_expires_at = greatest(access_expires_at, $5)
    WHERE id = $1`,
  ),
  grace: statement(
    'sessions.grace',
    `UPDATE sessions SET last_used_at = $2, access_expires_at = greatest(access_expires_at, $3) WHERE id = $1`,
  ),
  revokeOne: revoking('sessions.revokeOne', 's.id = $3'),
  revokeOfUser: revoking('sessions.revokeOfUser', 's.id = $3 AND s.user_id = $4'),
  revokeOthers: revoking('sessions.revokeOthers', 's.user_id = $3 AND s.id <> $4'),
  // The new hash and the revocation of the other sessions in one statement: both or neither.
  changePassword: revoking(
    'sessions.changePassword',
    's.user_id = (SELECT id FROM changed) AND s.id <> $4',
    `changed AS (
      UPDATE users SET password_hash = $5, updated_at = now() WHERE id = $3 RETURNING id
    ),`,
  ),
  list: statement(
    'sessions.list',
    `
    SELECT id, created_at AS "createdAt", last_used_at AS "lastUsedAt",
           least(idle_expires_at, expires_at) AS "expiresAt", user_agent AS "userAgent"
    FROM sessions
    WHERE user_id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 AND expires_at > $2
    ORDER BY created_at DESC, id DESC`,
    { isoTimestamps: true },
  ),
  // JwtAuthGuard's one look-up on routes that need the user: the user and their live session.
  caller: statement(
    'sessions.caller',
    `
    SELECT u.id, u.email, u.display_name AS "displayName", u.created_at AS "createdAt"
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL`,
  ),
  isLive: statement(
    'sessions.isLive',
    `SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL) AS live`,
  ),
  purge: statement(
    'sessions.purge',
    `
    DELETE FROM sessions WHERE id IN (
      SELECT id FROM sessions WHERE expires_at < now() - interval '1 day'
      UNION ALL
      SELECT id FROM sessions WHERE revoked_at IS NOT NULL AND access_expires_at < now() - interval '1 day'
      LIMIT 10000)`,
  ),
};

interface LockedSession {
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

type RefreshOutcome =
  | { kind: 'issued'; issued: IssuedSession }
  | { kind: 'refused' }
  | { kind: 'reused'; accessExpiresAtMs: number }; // revoked in the transaction: 401 after commit

/**
 * Server-side sessions: opening, refreshing (rotation with a grace window and reuse detection),
 * listing and revoking them. Every revocation reaches RevokedSessions here and, through
 * NOTIFY, on every other instance.
 */
@Injectable()
export class SessionsService {
  private readonly tokens: RefreshTokens;

  constructor(
    private readonly sql: Sql,
    private readonly jwt: JwtService,
    private readonly clock: Clock,
    private readonly revoked: RevokedSessions,
    private readonly config: ConfigService<AppConfig, true>,
  ) {
    this.tokens = new RefreshTokens(config.get('auth.jwtSecret', { infer: true }));
  }

  private get settings() {
    return this.config.get('session', { infer: true });
  }

  async open(user: User, userAgent: string | undefined): Promise<IssuedSession> {
    const now = this.clock.now();
    const sessionId = randomUUID();
    const { token, secretHash } = this.tokens.issue(sessionId, 0);
    const expiresAt = now + this.settings.maxDays * DAY_MS;
    const idleExpiresAt = Math.min(now + this.settings.idleDays * DAY_MS, expiresAt);
    const { issued, expiresAtMs } = await this.sign(user, sessionId, now, expiresAt);
    await this.sql.rows(SQL.open, [
      sessionId,
      user.id,
      secretHash,
      new Date(now),
      new Date(idleExpiresAt),
      new Date(expiresAt),
      new Date(expiresAtMs),
      cleanUserAgent(userAgent),
    ]);
    issued.refresh = { token, maxAgeSeconds: Math.floor((idleExpiresAt - now) / 1000) };
    return issued;
  }

  /** null: no, unknown, expired, revoked or reused refresh token (the last revokes its session). */
  async refresh(refreshToken: string | undefined): Promise<IssuedSession | null> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) return null;
    const outcome = await this.sql.transaction<RefreshOutcome>(async (tx) => {
      const [row] = await tx.rows<LockedSession>(SQL.lockForRefresh, [claims.sessionId]);
      const now = this.clock.now();
      if (
        !row ||
        row.revokedAt !== null ||
        row.idleExpiresAt.getTime() <= now ||
        row.expiresAt.getTime() <= now
      ) {
        return { kind: 'refused' };
      }
      const user: User = {
        id: row.userId,
        email: row.email,
        displayName: row.displayName,
        createdAt: row.createdAt,
      };
      const expiresAt = row.expiresAt.getTime();
      if (claims.generation === row.generation && sameHash(claims.secretHash, row.tokenHash)) {
        const next = this.tokens.issue(claims.sessionId, row.generation + 1);
        const idleExpiresAt = Math.min(now + this.settings.idleDays * DAY_MS, expiresAt);
        const { issued, expiresAtMs } = await this.sign(user, claims.sessionId, now, expiresAt);
        await tx.rows(SQL.rotate, [
          claims.sessionId,
          next.secretHash,
          new Date(now),
          new Date(idleExpiresAt),
          new Date(expiresAtMs),
        ]);
        issued.refresh = {
          token: next.token,
          maxAgeSeconds: Math.floor((idleExpiresAt - now) / 1000),
        };
        return { kind: 'issued', issued };
      }
      const previous =
        claims.generation === row.generation - 1 &&
        sameHash(claims.secretHash, row.previousTokenHash);
      if (previous && row.rotatedAt && now - row.rotatedAt.getTime() <= REFRESH_GRACE_MS) {
        // Another tab (or instance) rotated it a moment ago: an access token, no rotation.
        const { issued, expiresAtMs } = await this.sign(user, claims.sessionId, now, expiresAt);
        await tx.rows(SQL.grace, [claims.sessionId, new Date(now), new Date(expiresAtMs)]);
        return { kind: 'issued', issued };
      }
      if (claims.generation < row.generation) {
        // A token we issued and rotated away, presented after the grace: stolen, or the
        // thief already used it. Either way the session is no longer trustworthy.
        const [revoked] = await tx.rows<{ accessExpiresAtMs: number }>(SQL.revokeOne, [
          new Date(now),
          'refresh_token_reused' satisfies RevokeReason,
          claims.sessionId,
        ]);
        return { kind: 'reused', accessExpiresAtMs: revoked?.accessExpiresAtMs ?? 0 };
      }
      return { kind: 'refused' };
    });
    if (outcome.kind === 'reused') {
      this.revoked.add(claims.sessionId, outcome.accessExpiresAtMs);
      await this.revoked.noticeOf([claims.sessionId]);
    }
    return outcome.kind === 'issued' ? outcome.issued : null;
  }

  /** Logout: revokes the session the refresh token names, if it is ours and live. */
  async logout(refreshToken: string | undefined): Promise<void> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) return;
    await this.revoke(SQL.revokeOne, 'logout', [claims.sessionId]);
  }

  /** false when the caller has no such live session. */
  async revokeOne(userId: string, sessionId: string): Promise<boolean> {
    return (await this.revoke(SQL.revokeOfUser, 'revoked', [sessionId, userId])) > 0;
  }

  async revokeOthers(userId: string, currentSessionId: string): Promise<void> {
    await this.revoke(SQL.revokeOthers, 'others_revoked', [userId, currentSessionId]);
  }

  /** Stores the new hash and revokes every other session of the user, in one statement. */
  async changePassword(userId: string, currentSessionId: string, newHash: string): Promise<void> {
    await this.revoke(SQL.changePassword, 'password_changed', [userId, currentSessionId, newHash]);
  }

  list(userId: string): Promise<Omit<SessionResponseDto, 'current'>[]> {
    return this.sql.rows(SQL.list, [userId, new Date(this.clock.now())]);
  }

  /** The caller's user row while the session is live, else null (one statement). */
  async caller(userId: string, sessionId: string): Promise<AuthUser | null> {
    const [user] = await this.sql.rows<User>(SQL.caller, [sessionId, userId]);
    return user ? { ...user, sessionId } : null;
  }

  /** Whether the session is live: asked only while the revocation set may be stale. */
  async isLive(userId: string, sessionId: string): Promise<boolean> {
    const [{ live }] = await this.sql.rows<{ live: boolean }>(SQL.isLive, [sessionId, userId]);
    return live;
  }

  /** Deletes sessions ended more than a day ago (run periodically; bounded per call). */
  async purge(): Promise<void> {
    await this.sql.rows(SQL.purge, []);
  }

  private async revoke(
    sql: (typeof SQL)['revokeOne'],
    reason: RevokeReason,
    values: unknown[],
  ): Promise<number> {
    const rows = await this.sql.rows<{ id: string; accessExpiresAtMs: number }>(sql, [
      new Date(this.clock.now()),
      reason,
      ...values,
    ]);
    for (const row of rows) this.revoked.add(row.id, row.accessExpiresAtMs);
    await this.revoked.noticeOf(rows.map((row) => row.id));
    return rows.length;
  }

  /**
   * An access token of the session: it lives JWT_EXPIRES_IN seconds, never past the session's
   * absolute end. `expiresAtMs` is its expiry, kept as the session's access_expires_at.
   */
  private async sign(user: User, sessionId: string, now: number, sessionEndMs: number) {
    const ttl = this.settings.accessTokenTtlSeconds;
    const expiresIn = Math.max(1, Math.min(ttl, Math.floor((sessionEndMs - now) / 1000)));
    const payload: JwtPayload = { sub: user.id, sid: sessionId };
    const issued: IssuedSession = {
      user,
      sessionId,
      accessToken: await this.jwt.signAsync(payload, { expiresIn }),
      expiresIn,
    };
    return { issued, expiresAtMs: now + expiresIn * 1000 };
  }
}

/** The User-Agent as stored: at most 512 characters, without what PostgreSQL cannot store. */
function cleanUserAgent(userAgent: string | undefined): string | null {
  const clean = userAgent?.split('\u0000').join('').slice(0, USER_AGENT_MAX).trim();
  return clean ? clean : null;
}
