import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PgNotifications } from '../database/pg-notifications';
import { Sql, statement } from '../database/sql.service';

/** pg_notify channel: payload `<session id>:<access expiry, epoch ms>,…` (see sessions.service). */
export const SESSIONS_REVOKED_CHANNEL = 'sessions_revoked';

const LOAD = statement(
  'sessions.loadRevoked',
  `SELECT id, (extract(epoch FROM access_expires_at) * 1000)::float8 AS "accessExpiresAtMs"
   FROM sessions WHERE revoked_at IS NOT NULL AND access_expires_at > now()`,
);

/**
 * The sessions revoked while some of their access tokens may still be unexpired, known to every
 * instance without a database round trip per request: loaded at start-up (after LISTEN, so
 * nothing falls in between), kept up to date by the notifications the revoking statements send,
 * and reloaded after the LISTEN connection is lost. While it is lost the set may be stale:
 * `isRevoked` then says `undefined` and JwtAuthGuard asks the database instead.
 * An entry is dropped once the session's newest access token has expired: no token of it is
 * valid anymore.
 */
@Injectable()
export class RevokedSessions implements OnModuleInit, OnModuleDestroy {
  private readonly revoked = new Map<string, number>();
  private current = false;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly notifications: PgNotifications,
    private readonly sql: Sql,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.notifications.subscribe(SESSIONS_REVOKED_CHANNEL, {
      message: (payload) => this.addPayload(payload),
      ready: () => this.reload(),
      lost: () => (this.current = false),
    });
    this.sweep = setInterval(() => this.dropExpired(), 60_000);
    this.sweep.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }

  /** true: revoked; false: not revoked; undefined: the set may be stale, ask the database. */
  isRevoked(sessionId: string): boolean | undefined {
    const until = this.revoked.get(sessionId);
    if (until !== undefined) {
      if (until > Date.now()) return true;
      this.revoked.delete(sessionId);
    }
    return this.current ? false : undefined;
  }

  /** Records revocations (this instance's own at once; others' through their notifications). */
  add(sessionId: string, accessExpiresAtMs: number): void {
    if (accessExpiresAtMs > Date.now()) this.revoked.set(sessionId, accessExpiresAtMs);
  }

  addPayload(payload: string): void {
    for (const entry of payload.split(',')) {
      const [id, until] = entry.split(':');
      if (id && until) this.add(id, Number(until));
    }
  }

  get size(): number {
    return this.revoked.size;
  }

  private async reload(): Promise<void> {
    const rows = await this.sql.rows<{ id: string; accessExpiresAtMs: number }>(LOAD, []);
    for (const row of rows) this.add(row.id, row.accessExpiresAtMs);
    this.current = true;
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
  }
}
