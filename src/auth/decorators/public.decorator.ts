import { applyDecorators, SetMetadata } from '@nestjs/common';

export const IS_PUBLIC_KEY = 'isPublic';

/** Where @nestjs/swagger's ApiSecurity() keeps its requirements (its DECORATORS are not exported). */
const API_SECURITY = 'swagger/apiSecurity';

/**
 * Declares an operation without security (`security: []`) in the OpenAPI document, whose
 * global requirement is the bearer token: what the guard does, the document says.
 */
const ApiNoSecurity =
  (): ClassDecorator & MethodDecorator =>
  (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    Reflect.defineMetadata(API_SECURITY, [], descriptor ? (descriptor.value as object) : target);
  };

/** Opts a route out of the global JwtAuthGuard. Everything else needs a token. */
export const Public = () => applyDecorators(SetMetadata(IS_PUBLIC_KEY, true), ApiNoSecurity());
