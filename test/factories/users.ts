import { randomBytes } from 'node:crypto';
import type TestAgent from 'supertest/lib/agent';

export interface RegisteredUser {
  id: string;
  email: string;
  password: string;
  token: string;
  auth: { Authorization: string };
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
  };
}
