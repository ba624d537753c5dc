import { channel } from '../database/pg-pubsub';

/**
 * Sent by the revoking statements themselves (see sessions.repository), so the notice goes out
 * when the revocation commits: `[session id, access expiry in epoch ms][]`.
 */
export const SESSIONS_REVOKED = channel<[string, number][]>('sessions_revoked');
