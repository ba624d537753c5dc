import { SetMetadata } from '@nestjs/common';

export const CALLER_CHECKED_BY_QUERY_KEY = 'callerCheckedByQuery';

/**
 * JwtAuthGuard verifies the token but skips its look-up of the user: the route itself answers
 * 401 when the caller no longer exists, from statements it runs anyway (rows owned by the
 * caller, a foreign key to users), and checks the users table only when those find nothing.
 * That saves a round trip on every request of the route; a route without this decorator gets
 * the look-up.
 */
export const CallerCheckedByQuery = () => SetMetadata(CALLER_CHECKED_BY_QUERY_KEY, true);
