import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { PgPubSub, Unsubscribe } from '../database/pg-pubsub';
import { SESSIONS_REVOKED } from './auth-channels';
import { SessionsRepository } from './sessions.repository';

/**
 * The sessions revoked while some of their access tokens may still be unexpired, known to every
 * instance without a database round trip per request: loaded at start-up (after LISTEN, so
 * nothing falls in between), kept up to date by the notifications the revoking statements send,
 * and reloaded after the LISTEN connection is lost. While it is lost the set may be stale:
 * `isRevoked` then says `undefined` and JwtAuthGuard asks the database instead. A deleted user's sessions are revoked by the deleting
 * statement and kept as revoked rows until their tokens have expired, so a reload knows them.
 * An entry is dropped once the session's newest access token has expired: no token of it is
 * valid anymore.
 */
@Injectable()
export class RevokedSessions implements OnModuleInit, OnModuleDestroy {
  private readonly revoked = new Map<string, number>();
  /** Revocations this instance's listener has heard of lately, and who waits to hear of one. */
  private readonly noticed = new Map<string, number>();
  private readonly waiting = new Map<string, () => void>();
  private current = false;
  private sweep: NodeJS.Timeout | undefined;
  private readonly unsubscribe: Unsubscribe[] = [];

  constructor(
    private readonly pubsub: PgPubSub,
    private readonly sessions: SessionsRepository,
  ) {}

  async onModuleInit(): Promise<void> {
    // Loaded after LISTEN, so no revocation falls in between; again after every reconnect.
    this.unsubscribe.push(
      await this.pubsub.subscribe(SESSIONS_REVOKED, (entries) => this.addEntries(entries)),
      this.pubsub.onLost(() => (this.current = false)),
      this.pubsub.onReconnect(() => void this.reload().catch(() => undefined)),
    );
    await this.reload();
    this.sweep = setInterval(() => this.dropExpired(), 60_000);
    this.sweep.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
    for (const unsubscribe of this.unsubscribe) unsubscribe();
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

  /**
   * Records what a revoking statement revoked, and resolves once every instance has been told
   * (see noticeOf): the answer to the revoking request goes out after that.
   */
  async revokedNow(rows: { id: string; accessExpiresAtMs: number }[]): Promise<void> {
    for (const row of rows) this.add(row.id, row.accessExpiresAtMs);
    await this.noticeOf(rows.map((row) => row.id));
  }

  /** Records revocations (this instance's own at once; others' through their notifications). */
  add(sessionId: string, accessExpiresAtMs: number): void {
    if (accessExpiresAtMs > Date.now()) this.revoked.set(sessionId, accessExpiresAtMs);
  }

  addEntries(entries: [string, number][]): void {
    const now = Date.now();
    if (!Array.isArray(entries)) return;
    for (const entry of entries) {
      const [id, until] = Array.isArray(entry) ? entry : [];
      if (typeof id !== 'string' || typeof until !== 'number') continue;
      this.add(id, until);
      this.noticed.set(id, now);
      this.waiting.get(id)?.();
    }
  }

  /**
   * Resolves once this instance's own LISTEN connection has received the notices of these
   * revocations (at most `timeoutMs`). PostgreSQL signals every listener at the same commit, so
   * a revoking request that waits for it answers only after the notice has reached the other
   * instances too: their next request is refused, not merely one a few milliseconds later.
   */
  async noticeOf(sessionIds: string[], timeoutMs = 1000): Promise<void> {
    if (!this.current) return;
    const pending = sessionIds.filter((id) => !this.noticed.has(id));
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      let left = pending.length;
      for (const id of pending) {
        this.waiting.set(id, () => {
          this.waiting.delete(id);
          if (--left === 0) resolve();
        });
      }
      timer = setTimeout(resolve, timeoutMs);
    });
    clearTimeout(timer);
    for (const id of pending) this.waiting.delete(id);
  }

  get size(): number {
    return this.revoked.size;
  }

  private async reload(): Promise<void> {
    const rows = await this.sessions.loadRevoked();
    for (const row of rows) this.add(row.id, row.accessExpiresAtMs);
    this.current = true;
  }

  private dropExpired(): void {
    const now = Date.now();
    for (const [id, until] of this.revoked) if (until <= now) this.revoked.delete(id);
    for (const [id, at] of this.noticed) if (at < now - 60_000) this.noticed.delete(id);
  }
}
