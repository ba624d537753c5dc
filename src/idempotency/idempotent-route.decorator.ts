import { applyDecorators } from '@nestjs/common';
import { ApiConflictResponse, ApiHeader, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from '../common/dto/error-response.dto';

/** The header of a replayed answer, for the route's success response. */
export const REPLAYED_RESPONSE_HEADERS = {
  'Idempotent-Replayed': {
    description: '`true` when this is the stored answer to an earlier request with the same key',
    schema: { type: 'string', enum: ['true'] },
  },
};

/**
 * Documents a route that takes an Idempotency-Key (its handler passes `@Idempotency()` to
 * IdempotencyService.run()).
 */
export function IdempotentRoute(): MethodDecorator {
  return applyDecorators(
    ApiHeader({
      name: 'Idempotency-Key',
      required: false,
      description:
        'Makes a retry safe: the same key with the same body within 24 hours gets the first ' +
        'answer again (with `Idempotent-Replayed: true`) and nothing is created twice. Keys are ' +
        'per user; 1 to 255 visible ASCII characters, e.g. a UUID.',
      schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[!-~]+$' },
    }),
    ApiConflictResponse({
      type: ErrorResponseDto,
      description: 'A request with this Idempotency-Key is still being handled',
      headers: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'integer' } } },
    }),
    ApiUnprocessableEntityResponse({
      type: ErrorResponseDto,
      description: 'This Idempotency-Key was used with a different body or on another route',
    }),
  );
}
