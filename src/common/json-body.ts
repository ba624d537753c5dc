import { BadRequestException } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';

/** Request bodies of this API are flat objects; anything deeper is an attack or a mistake. */
export const MAX_JSON_DEPTH = 16;

/** Depth of a parsed JSON value, measured without recursion (a deep value must not blow the stack). */
export function jsonDepth(value: unknown, limit = Infinity): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(current)) stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Fastify's own JSON parser (which refuses `__proto__` and `constructor.prototype` keys), plus a
 * depth limit: class-transformer and class-validator recurse, and a body of 100,000 nested
 * arrays would otherwise overflow the stack and answer 500. Every body of this API is an object:
 * `null`, arrays, strings, numbers and booleans are refused here, for every route (Nest's
 * ValidationPipe lets `null` through to the DTO's defaults).
 */
export function limitJsonDepth(fastify: FastifyInstance): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    void parse(request, body as string, (error, value) => {
      if (error) return done(error);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return done(new BadRequestException('The body must be a JSON object'));
      }
      if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
        return done(new BadRequestException(`Body is nested deeper than ${MAX_JSON_DEPTH} levels`));
      }
      done(null, value);
    });
  });
}
