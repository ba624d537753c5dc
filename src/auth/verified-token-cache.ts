/** What a verified access token says: its user and session. */
export interface VerifiedToken {
  subject: string;
  sessionId: string;
}

/**
 * Tokens whose signature passport-jwt has already verified, each until its own expiry, so a
 * client's next requests with the same token skip the HMAC, base64 and JSON work, a large part of the
 * CPU of a small read. The key is the whole token: only the exact string that
 * was verified hits. Bounded: when full, the oldest entry goes.
 * A hit only says the token is genuine: whether its session is still live, the route's first
 * statement checks (live_session), every time.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, VerifiedToken & { expiresAtMs: number }>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The token's claims while it is unexpired, else undefined. */
  get(token: string): VerifiedToken | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= this.now()) {
      this.entries.delete(token);
      return undefined;
    }
    return entry;
  }

  /** Remembers a verified token; `expiresAt` is its `exp` claim (seconds). */
  set(token: string, claims: VerifiedToken, expiresAt: number): void {
    if (this.entries.size >= this.maxEntries && !this.entries.has(token)) {
      this.entries.delete(this.entries.keys().next().value!);
    }
    this.entries.set(token, {
      subject: claims.subject,
      sessionId: claims.sessionId,
      expiresAtMs: expiresAt * 1000,
    });
  }

  get size(): number {
    return this.entries.size;
  }
}
