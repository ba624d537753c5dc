import type { Response } from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { Clock } from '../../src/auth/clock';
import { refreshCookieOf, sessionIdOf } from '../factories/users';
import type { TestApp } from './app';

/** A signed-in client: its access token and refresh cookie. */
export interface SignedIn {
  token: string;
  auth: { Authorization: string };
  refreshCookie: string;
  sessionId: string;
}

export function signedInFrom(res: Response): SignedIn {
  const token = res.body.accessToken as string;
  return {
    token,
    auth: { Authorization: `Bearer ${token}` },
    refreshCookie: refreshCookieOf(res)!,
    sessionId: sessionIdOf(token),
  };
}

export function login(http: TestAgent, email: string, password: string): Promise<SignedIn> {
  return http.post('/api/auth/login').send({ email, password }).expect(200).then(signedInFrom);
}

export function refresh(http: TestAgent, cookie: string, origin?: string) {
  const req = http.post('/api/auth/refresh').set('Cookie', cookie);
  return origin ? req.set('Origin', origin) : req;
}

/** The Set-Cookie line of the refresh cookie, or undefined. */
export function setRefreshCookie(res: Response): string | undefined {
  const all = res.headers['set-cookie'] as unknown as string[] | undefined;
  return all?.find((c) => c.startsWith('refresh_token='));
}

/**
 * Moves the app's session clock (expiry, the refresh grace) by `ms` from now on; returns a
 * function that moves it further.
 */
export function controlClock(t: TestApp): { advance(ms: number): void; reset(): void } {
  const clock = t.app.get(Clock);
  let offset = 0;
  const spy = jest.spyOn(clock, 'now').mockImplementation(() => Date.now() + offset);
  return {
    advance: (ms) => (offset += ms),
    reset: () => {
      offset = 0;
      spy.mockRestore();
    },
  };
}

/** Both halves of a session no longer work: its access token (401 everywhere) and its cookie. */
export async function expectSessionEnded(http: TestAgent, s: SignedIn): Promise<void> {
  expect((await http.get('/api/users/me').set(s.auth)).status).toBe(401);
  expect((await http.get('/api/chat-rooms').set(s.auth)).status).toBe(401);
  expect((await http.post('/api/chat-rooms').set(s.auth).send({})).status).toBe(401);
  expect((await refresh(http, s.refreshCookie)).status).toBe(401);
}

/** Both halves of a session work (the access token on a route with and without the look-up). */
export async function expectSessionLive(http: TestAgent, s: SignedIn): Promise<void> {
  expect((await http.get('/api/users/me').set(s.auth)).status).toBe(200);
  expect((await http.get('/api/chat-rooms').set(s.auth)).status).toBe(200);
}
