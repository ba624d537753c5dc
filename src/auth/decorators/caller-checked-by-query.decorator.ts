import { SetMetadata } from '@nestjs/common';

export const CALLER_CHECKED_BY_QUERY_KEY = 'callerCheckedByQuery';

/**
 * JwtAuthGuard verifies the token but skips its look-up of the user and session: the route
 * itself answers 401 when the caller's session is no longer live (revoked, or the user
 * deleted), by putting liveSession() (src/auth/session-proof.ts) in the statements it runs
 * anyway, and asks about the session on its own only when those find nothing. That saves a
 * round trip on every request of the route; a route without this decorator gets the look-up.
 * (JwtAuthGuard also refuses sessions it already knows to be revoked, see RevokedSessions.)
 */
export const CallerCheckedByQuery = () => SetMetadata(CALLER_CHECKED_BY_QUERY_KEY, true);
