import type { User } from '../users/entities/user.entity';

/** The caller, as loaded once per request by the JWT strategy. */
export type AuthUser = Pick<User, 'id' | 'email' | 'displayName' | 'createdAt'>;

/** Claims of our access tokens. */
export interface JwtPayload {
  sub: string;
  iat?: number;
  exp?: number;
}
