import { randomUUID } from 'node:crypto';
import { Injectable, UnauthorizedException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { JwtService } from '@nestjs/jwt';
import type { AppConfig } from '../config/configuration';
import { Sql } from '../database/sql.service';
import type { AuthUser, JwtPayload, TokenCaller } from './auth-user';
import { Clock } from './clock';
import { RefreshTokens, sameHash } from './refresh-tokens';
import { SessionsRepository, type Revoked, type RevokeReason } from './sessions.repository';
import { SessionResponseDto } from './dto/session-response.dto';

/** A spent refresh token presented again within this long of its rotation gets the grace answer. */
export const REFRESH_GRACE_MS = 10_000;
const DAY_MS = 86_400_000;
const USER_AGENT_MAX = 512;

/** What opening or refreshing a session hands out. */
export interface IssuedSession {
  user: AuthUser;
  sessionId: string;
  accessToken: string;
  /** Seconds the access token lives. */
  expiresIn: number;
  /** A new refresh token and its cookie lifetime; absent on the grace answer (no rotation). */
  refresh?: { token: string; maxAgeSeconds: number };
}

type RefreshOutcome =
  { kind: 'issued'; issued: IssuedSession } | { kind: 'refused' } | { kind: 'reused' }; // revoked in the transaction: 401 after commit

/**
 * Server-side sessions: opening, refreshing (rotation with a grace window and reuse detection),
 * listing and revoking them.
 */
@Injectable()
export class SessionsService {
  private readonly tokens: RefreshTokens;

  constructor(
    private readonly sql: Sql,
    private readonly sessions: SessionsRepository,
    private readonly jwt: JwtService,
    private readonly clock: Clock,
    private readonly config: ConfigService<AppConfig, true>,
  ) {
    this.tokens = new RefreshTokens(config.get('auth.jwtSecret', { infer: true }));
  }

  private get settings() {
    return this.config.get('session', { infer: true });
  }

  async open(user: AuthUser, userAgent: string | undefined): Promise<IssuedSession> {
    const now = this.clock.now();
    const sessionId = randomUUID();
    const { token, secretHash } = this.tokens.issue(sessionId, 0);
    const expiresAt = now + this.settings.maxDays * DAY_MS;
    const idleExpiresAt = Math.min(now + this.settings.idleDays * DAY_MS, expiresAt);
    const { issued, expiresAtMs } = await this.sign(user, sessionId, now, expiresAt);
    await this.sessions.open({
      id: sessionId,
      userId: user.id,
      tokenHash: secretHash,
      now: new Date(now),
      idleExpiresAt: new Date(idleExpiresAt),
      expiresAt: new Date(expiresAt),
      accessExpiresAt: new Date(expiresAtMs),
      userAgent: cleanUserAgent(userAgent),
    });
    issued.refresh = { token, maxAgeSeconds: Math.floor((idleExpiresAt - now) / 1000) };
    return issued;
  }

  /** null: no, unknown, expired, revoked or reused refresh token (the last revokes its session). */
  async refresh(refreshToken: string | undefined): Promise<IssuedSession | null> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) return null;
    const outcome = await this.sql.transaction<RefreshOutcome>(async (tx) => {
      const row = await this.sessions.lockForRefresh(tx, claims.sessionId);
      const now = this.clock.now();
      if (
        !row ||
        row.revokedAt !== null ||
        row.idleExpiresAt.getTime() <= now ||
        row.expiresAt.getTime() <= now
      ) {
        return { kind: 'refused' };
      }
      const user: AuthUser = {
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
        await this.sessions.rotate(tx, {
          id: claims.sessionId,
          tokenHash: next.secretHash,
          now: new Date(now),
          idleExpiresAt: new Date(idleExpiresAt),
          accessExpiresAt: new Date(expiresAtMs),
        });
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
        await this.sessions.grace(tx, {
          id: claims.sessionId,
          now: new Date(now),
          accessExpiresAt: new Date(expiresAtMs),
        });
        return { kind: 'issued', issued };
      }
      if (claims.generation < row.generation) {
        // A token we issued and rotated away, presented after the grace: stolen, or the
        // thief already used it. Either way the session is no longer trustworthy.
        await this.sessions.revokeOne(
          { at: new Date(now), reason: 'refresh_token_reused', id: claims.sessionId },
          tx,
        );
        return { kind: 'reused' };
      }
      return { kind: 'refused' };
    });
    return outcome.kind === 'issued' ? outcome.issued : null;
  }

  /** Logout: revokes the session the refresh token names, if it is ours and live. */
  async logout(refreshToken: string | undefined): Promise<void> {
    const claims = this.tokens.parse(refreshToken);
    if (!claims) return;
    await this.revoke('logout', (at) => this.sessions.revokeOne({ ...at, id: claims.sessionId }));
  }

  /** false when the caller has no such live session; 401 when the caller's own is not live. */
  async revokeOne(caller: TokenCaller, sessionId: string): Promise<boolean> {
    const revoked = await this.revoke('revoked', (at) =>
      this.sessions.revokeOfUser({
        ...at,
        id: sessionId,
        userId: caller.id,
        sessionId: caller.sessionId,
      }),
    );
    if (revoked > 0) return true;
    await this.assertLive(caller);
    return false;
  }

  async revokeOthers(caller: TokenCaller): Promise<void> {
    const revoked = await this.revoke('others_revoked', (at) =>
      this.sessions.revokeOthers({ ...at, userId: caller.id, keepId: caller.sessionId }),
    );
    if (revoked === 0) await this.assertLive(caller);
  }

  /** Stores the new hash and revokes every other session of the user, in one statement. */
  async changePassword(caller: TokenCaller, newHash: string): Promise<void> {
    await this.revoke('password_changed', (at) =>
      this.sessions.changePassword({
        ...at,
        userId: caller.id,
        keepId: caller.sessionId,
        passwordHash: newHash,
      }),
    );
  }

  /** The caller's live sessions (the current one among them); 401 when it is not live. */
  async list(caller: TokenCaller): Promise<Omit<SessionResponseDto, 'current'>[]> {
    const sessions = await this.sessions.list({
      userId: caller.id,
      sessionId: caller.sessionId,
      now: new Date(this.clock.now()),
    });
    if (sessions.length === 0) throw new UnauthorizedException('Unauthorized');
    return sessions;
  }

  /** 401 unless the caller's session is live: for a statement that found nothing. */
  async assertLive(caller: TokenCaller): Promise<void> {
    if (!(await this.sessions.isLive({ id: caller.sessionId, userId: caller.id }))) {
      throw new UnauthorizedException('Unauthorized');
    }
  }

  /** Deletes sessions ended more than a day ago (run periodically; bounded per call). */
  purge(): Promise<void> {
    return this.sessions.purge();
  }

  /** Runs a revoking statement; returns how many sessions it revoked. */
  private async revoke(
    reason: RevokeReason,
    statement: (at: { at: Date; reason: RevokeReason }) => Promise<Revoked[]>,
  ): Promise<number> {
    const rows = await statement({ at: new Date(this.clock.now()), reason });
    return rows.length;
  }

  /**
   * An access token of the session: it lives JWT_EXPIRES_IN seconds, never past the session's
   * absolute end. `expiresAtMs` is its expiry, kept as the session's access_expires_at.
   */
  private async sign(user: AuthUser, sessionId: string, now: number, sessionEndMs: number) {
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
