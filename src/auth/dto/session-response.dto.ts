/** A live session of the caller: one sign-in on one device. */
export class SessionResponseDto {
  /** @example "7c9e6679-7425-40de-944b-e07fc1f90ae7" */
  id: string;
  /** When the user signed in. @example "2026-01-31T12:00:00.000Z" */
  createdAt: string;
  /** The last sign-in or refresh. @example "2026-01-31T12:15:00.000Z" */
  lastUsedAt: string;
  /**
   * When the session ends unless refreshed before (idle limit), and never later than its
   * absolute limit. @example "2026-02-07T12:15:00.000Z"
   */
  expiresAt: string;
  /** The User-Agent it signed in with (at most 512 characters), or null. @example "Mozilla/5.0" */
  userAgent: string | null;
  /** Whether this is the session of the access token that asked. */
  current: boolean;
}
