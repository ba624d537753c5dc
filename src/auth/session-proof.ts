/**
 * A SQL condition that holds while the caller's session is live: not revoked, and its user
 * still there (a deleted user's sessions are deleted with them). Routes marked
 * @CallerCheckedByQuery() put it in the statements they run anyway, so a revoked session's
 * access token is refused by that very statement, on every instance, at no extra round trip.
 * `user` and `session` are the statement's parameters, e.g. `liveSession('$2', '$3')`.
 */
export const liveSession = (user: string, session: string): string =>
  `EXISTS (SELECT 1 FROM sessions live WHERE live.id = ${session}::uuid AND live.user_id = ${user}::uuid AND live.revoked_at IS NULL)`;
