import { createHmac } from 'node:crypto';

const b64 = (value: object | string) =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** Hand-made JWTs for attack tests: any header, any payload, any secret. */
export function signJwt(
  payload: object,
  { secret, header = { alg: 'HS256', typ: 'JWT' } }: { secret: string; header?: object },
): string {
  const body = `${b64(header)}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

export function unsignedJwt(payload: object): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`;
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);
