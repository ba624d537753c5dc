import { randomBytes } from 'node:crypto';
import type TestAgent from 'supertest/lib/agent';

export interface RegisteredUser {
  id: string;
  email: string;
  password: string;
  token: string;
  auth: { Authorization: string };
  /** The session's id (the access token's `sid`). */
  sessionId: string;
  /** `refresh_token=…`, to send as a Cookie header to /api/auth/refresh and /logout. */
  refreshCookie: string;
}

/** The `name=value` of the refresh cookie a response sets, or undefined. */
export function refreshCookieOf(res: { headers: Record<string, unknown> }): string | undefined {
  const setCookie = res.headers['set-cookie'] as string[] | string | undefined;
  const all = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const cookie = all.find((c) => c.startsWith('refresh_token='));
  return cookie?.split(';')[0];
}

/** The session id of an access token. */
export function sessionIdOf(accessToken: string): string {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1], 'base64url').toString()) as {
    sid: string;
  };
  return payload.sid;
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}@example.com`;
}

/** Registers a fresh user through the API and returns its token. */
export async function registerUser(
  http: TestAgent,
  overrides: { email?: string; password?: string; displayName?: string } = {},
): Promise<RegisteredUser> {
  const email = overrides.email ?? uniqueEmail();
  const password = overrides.password ?? 'correct horse battery';
  const res = await http
    .post('/api/auth/register')
    .send({ email, password, displayName: overrides.displayName })
    .expect(201);
  const token = res.body.accessToken as string;
  return {
    id: res.body.user.id,
    email: res.body.user.email,
    password,
    token,
    auth: { Authorization: `Bearer ${token}` },
    sessionId: sessionIdOf(token),
    refreshCookie: refreshCookieOf(res)!,
  };
}
