import type { User } from '../users/entities/user.entity';

/** The caller, loaded by JwtAuthGuard on routes that need the user's row. */
export type AuthUser = Pick<User, 'id' | 'email' | 'displayName' | 'createdAt'> & {
  /** The session the access token belongs to. */
  sessionId: string;
};

/**
 * The caller as far as a verified token tells: on @CallerCheckedByQuery() routes nothing more is
 * loaded, and the route's statements show that the user still exists.
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
