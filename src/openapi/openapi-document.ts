import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, getSchemaPath, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

type PathItemObject = OpenAPIObject['paths'][string];
type OperationObject = NonNullable<PathItemObject['get']>;
type ResponsesObject = OperationObject['responses'];
import { PUBLIC_OPERATION } from '../auth/decorators/public.decorator';
import { REFRESH_COOKIE } from '../auth/session-cookie';
import { ErrorResponseDto } from '../common/dto/error-response.dto';

/** The name of the bearer scheme every route but the public ones requires. */
export const BEARER = 'bearer';

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;

/**
 * Answers the HTTP layer gives on any route, whatever its controller: they are added to every
 * operation they apply to (unless it documents them itself), so a route of any module is
 * documented completely.
 */
function addCommonErrors(document: OpenAPIObject): void {
  const error = (description: string) => ({
    description,
    content: { 'application/json': { schema: { $ref: getSchemaPath(ErrorResponseDto) } } },
  });
  for (const item of Object.values<PathItemObject>(document.paths)) {
    for (const method of METHODS) {
      const operation: OperationObject | undefined = item[method];
      if (!operation) continue;
      const responses: ResponsesObject = operation.responses;
      const add = (status: string, description: string) => {
        responses[status] ??= error(description);
      };
      // Fastify reads a body on these methods, whether the operation takes one or not.
      const readsBody = method !== 'get';
      if (readsBody || (operation.parameters ?? []).length > 0) {
        add(
          '400',
          'Invalid request: a body that is not a JSON object, an unknown field or parameter, a malformed id or an invalid value',
        );
      }
      // @Public() operations need no token: their own requirement (the refresh cookie) or none,
      // never the document's.
      const extensions = operation as unknown as Record<string, unknown>;
      if (extensions[PUBLIC_OPERATION]) {
        delete extensions[PUBLIC_OPERATION];
        operation.security ??= [];
      }
      // Operations without their own `security` have the document's: the bearer token.
      if (!operation.security) {
        add('401', 'Missing, invalid or expired access token, or its session has ended');
      }
      if (readsBody) {
        add('413', 'The body is larger than 256 KiB');
        add('415', 'The body is not `application/json`');
      }
      add('503', 'The database does not answer: retry after the `Retry-After` seconds');
    }
  }
}

/**
 * The OpenAPI document of the app, as /api/docs-json serves it. Security is global, as the
 * guard is: every operation needs the bearer token unless it is `@Public()` (`security: []`).
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Chat backend API')
      .setDescription(
        "Users keep conversations with an AI: chat rooms, their messages, and the assistant's " +
          'replies streamed from a language model; search across them.\n\n' +
          'Every route except register, login, refresh, logout, health and these docs needs ' +
          '`Authorization: Bearer <accessToken>` of a live session ("Authorize" with the ' +
          '`accessToken` of register, login or refresh). Refresh and logout use the ' +
          '`refresh_token` cookie that register, login and refresh set: in this page the browser ' +
          'sends it by itself. Errors have one shape, `{ statusCode, error, message }`. Request ' +
          'bodies are JSON objects of at most 256 KiB; unknown fields, malformed ids and invalid ' +
          'values are `400`.',
      )
      .setVersion('1')
      .setLicense('MIT', 'https://opensource.org/licenses/MIT')
      .addServer('/', 'The server that serves this document')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }, BEARER)
      .addSecurityRequirements(BEARER)
      .addCookieAuth(
        REFRESH_COOKIE,
        {
          type: 'apiKey',
          in: 'cookie',
          name: REFRESH_COOKIE,
          description: 'HttpOnly: set by register, login and refresh; the browser sends it itself',
        },
        REFRESH_COOKIE,
      )
      .build(),
    { extraModels: [ErrorResponseDto] },
  );
  addCommonErrors(document);
  return document;
}
