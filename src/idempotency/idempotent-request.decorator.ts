import { createHash } from 'node:crypto';
import { BadRequestException, createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { configure } from 'safe-stable-stringify';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';

/** 1 to 255 visible ASCII characters (VCHAR, %x21-7E): no spaces, no control bytes. */
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

// Object keys sorted, so `{"a":1,"b":2}` and `{ "b": 2, "a": 1 }` are the same request.
const canonicalJson = configure({ deterministic: true });

/** What a route handler hands IdempotencyService.run(): the caller's key, if any, and the reply. */
export interface IdempotentRequest {
  /** The Idempotency-Key header, validated; null when the request has none. */
  readonly key: string | null;
  /**
   * SHA-256 of the method, the route, its path parameters and the canonical JSON body: what
   * makes a retry "the same request". Null without a key (nothing is computed then).
   */
  readonly fingerprint: Buffer | null;
  /** Where a replayed answer's status and headers go. */
  readonly reply: FastifyReply;
}

/** The header's value as a key, or a 400 saying what a key must be. */
export function parseIdempotencyKey(value: string | string[]): string {
  if (typeof value !== 'string' || !VALID_KEY.test(value)) {
    throw new BadRequestException(
      'Idempotency-Key must be one header of 1 to 255 visible ASCII characters (no spaces)',
    );
  }
  return value;
}

export function requestFingerprint(request: FastifyRequest): Buffer {
  const canonical: string = canonicalJson({
    method: request.method,
    route: request.routeOptions.url ?? request.url,
    params: request.params ?? {},
    body: request.body ?? null,
  } as object);
  return createHash('sha256').update(canonical).digest();
}

/**
 * The request as IdempotencyService sees it. A request without the header costs a header
 * look-up and this small object; a malformed key is a 400 before anything runs.
 * See the IETF draft "The Idempotency-Key HTTP Header Field"
 * (https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/).
 */
export const Idempotency = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): IdempotentRequest => {
    const http = ctx.switchToHttp();
    const request = http.getRequest<FastifyRequest>();
    const reply = http.getResponse<FastifyReply>();
    const header = request.headers[IDEMPOTENCY_KEY_HEADER];
    if (header === undefined) return { key: null, fingerprint: null, reply };
    return { key: parseIdempotencyKey(header), fingerprint: requestFingerprint(request), reply };
  },
);
