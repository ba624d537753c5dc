import type { OpenAPIObject } from '@nestjs/swagger';
import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

type Schema = Record<string, unknown>;

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * An OpenAPI 3.0 schema as JSON Schema for ajv: `nullable` becomes a union with null, and an
 * object that lists its properties allows no others, so an undocumented field fails too.
 */
function toJsonSchema(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toJsonSchema);
  if (value === null || typeof value !== 'object') return value;
  const schema: Schema = {};
  for (const [key, child] of Object.entries(value as Schema)) {
    schema[key] = key === 'properties' ? mapValues(child as Schema) : toJsonSchema(child);
  }
  if (
    schema.properties &&
    schema.additionalProperties === undefined &&
    !schema.allOf &&
    !schema.anyOf &&
    !schema.oneOf
  ) {
    schema.additionalProperties = false;
  }
  if (schema.nullable === true) {
    delete schema.nullable;
    return { anyOf: [schema, { type: 'null' }] };
  }
  return schema;
}

function mapValues(properties: Schema): Schema {
  return Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toJsonSchema(v)]));
}

interface Operation {
  responses: Record<
    string,
    { content?: Record<string, { schema?: Schema }>; description?: string } | undefined
  >;
}

interface Route {
  pattern: RegExp;
  template: string;
  operations: Record<string, Operation | undefined>;
}

export interface ResponseToCheck {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text?: string;
}

/**
 * Checks every response against what the OpenAPI document declares for its route and status:
 * the status must be documented, and a JSON body must match the schema declared for it. Routes
 * come from the document's own paths, so every route any module adds is covered.
 */
export class OpenApiResponses {
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly routes: Route[];
  private readonly components: unknown;
  private readonly compiled = new Map<Schema, ValidateFunction>();
  private readonly errorSchema: Schema;

  constructor(document: OpenAPIObject) {
    addFormats(this.ajv);
    this.components = toJsonSchema(document.components ?? {});
    this.routes = Object.entries(document.paths).map(([template, item]) => ({
      template,
      // `{roomId}` matches one path segment, whatever it holds.
      pattern: new RegExp(
        `^${template
          .split(/\{[^}]+\}/)
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]+')}$`,
      ),
      operations: Object.fromEntries(
        METHODS.filter((m) => (item as Record<string, unknown>)[m]).map((m) => [
          m,
          (item as Record<string, Operation>)[m],
        ]),
      ),
    }));
    this.errorSchema = { $ref: '#/components/schemas/ErrorResponseDto' };
  }

  private validator(schema: Schema): ValidateFunction {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile({
        ...(toJsonSchema(schema) as Schema),
        components: this.components,
      });
      this.compiled.set(schema, validate);
    }
    return validate;
  }

  private matchBody(schema: Schema, body: unknown, where: string): string | undefined {
    const validate = this.validator(schema);
    if (validate(body)) return undefined;
    return `${where}: the body does not match the documented schema: ${this.ajv.errorsText(
      validate.errors,
      { dataVar: 'body' },
    )}\nbody: ${JSON.stringify(body)?.slice(0, 500)}`;
  }

  /** A sentence about what is wrong with the response, or undefined when it matches. */
  check(method: string, url: string, res: ResponseToCheck): string | undefined {
    const path = new URL(url, 'http://localhost').pathname;
    const verb = method.toLowerCase();
    const route = this.routes.find((r) => r.pattern.test(path));
    // Swagger UI and its files are served beside the document, not described in it.
    if (!route && /^\/api\/docs(-json|\/|$)/.test(path)) return undefined;
    // A CORS preflight is answered by the CORS layer for any route.
    if (verb === 'options') return undefined;
    const operation = route?.operations[verb === 'head' ? 'get' : verb];
    const where = `${method.toUpperCase()} ${route?.template ?? path} answered ${res.status}`;
    if (!operation) {
      // No such route: only an error in the contract's shape may come back.
      if (res.status < 400 || res.status >= 500) return `${where}: no such operation is documented`;
      return verb === 'head' ? undefined : this.matchBody(this.errorSchema, res.body, where);
    }
    const documented =
      operation.responses[String(res.status)] ??
      operation.responses[`${String(res.status)[0]}XX`] ??
      operation.responses.default;
    if (!documented) {
      return `${where}: status ${res.status} is not documented (documented: ${Object.keys(
        operation.responses,
      ).join(', ')})`;
    }
    if (verb === 'head') return undefined;
    const type = String(res.headers['content-type'] ?? '')
      .split(';')[0]
      .trim();
    const content = documented.content ?? {};
    if (!type || (res.text ?? '') === '') {
      return Object.keys(content).length === 0 || res.status === 304
        ? undefined
        : `${where}: an empty body, but the document declares ${Object.keys(content).join(', ')}`;
    }
    if (!content[type]) {
      return `${where}: a ${type} body, but the document declares ${
        Object.keys(content).join(', ') || 'no body'
      }`;
    }
    const schema = content[type].schema;
    if (!schema || type !== 'application/json') return undefined;
    return this.matchBody(schema, res.body, where);
  }
}
