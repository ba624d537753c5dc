import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiExtension } from '@nestjs/swagger';

export const IS_PUBLIC_KEY = 'isPublic';

/**
 * Marks an operation of the OpenAPI document as public; createOpenApiDocument() turns the mark
 * into `security: []` (the document's global requirement is the bearer token).
 */
export const PUBLIC_OPERATION = 'x-public';

/** Opts a route out of the global JwtAuthGuard, and its operation out of the document's security. */
export const Public = () =>
  applyDecorators(SetMetadata(IS_PUBLIC_KEY, true), ApiExtension(PUBLIC_OPERATION, true));
