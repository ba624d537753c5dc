import type { User } from '../users/entities/user.entity';

/** A user as the API shows it (GET /users/me, sign-in answers). */
export type AuthUser = Pick<User, 'id' | 'email' | 'displayName' | 'createdAt'>;

/**
 * The caller, as JwtAuthGuard puts it on every request (@CurrentUser()): what the verified
 * access token says. Whether its session is still live, the route's first statement checks
 * (live_session), with whatever it reads or writes.
 */
export type TokenCaller = Pick<User, 'id'> & { sessionId: string };

/** Claims of our access tokens. */
export interface JwtPayload {
  sub: string;
  /** The session id. */
  sid: string;
  iat?: number;
  exp?: number;
}
