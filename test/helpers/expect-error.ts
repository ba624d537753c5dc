import type { Response } from 'supertest';

/** Asserts the contract's error body: { statusCode, error, message } and nothing else. */
export function expectErrorBody(res: Response, status: number): void {
  expect(res.status).toBe(status);
  expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message', 'statusCode']);
  expect(res.body.statusCode).toBe(status);
  expect(typeof res.body.error).toBe('string');
  const message: unknown = res.body.message;
  expect(
    typeof message === 'string' ||
      (Array.isArray(message) && message.every((m) => typeof m === 'string')),
  ).toBe(true);
}
