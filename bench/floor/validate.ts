/**
 * Hand-written input validation for the floor server. It does the same checks the API contract
 * asks of the app (so the floor does not win by skipping work), without a framework.
 */

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string | string[],
  ) {
    super(Array.isArray(message) ? message.join('; ') : message);
    this.details = message;
  }
  readonly details: string | string[];
}

export const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// Deliberately simple: one @, no whitespace, a dot in the domain. The app's validator is
// stricter; the bench only sends valid addresses, so the cost difference is negligible.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const DIGITS = /^\d{1,9}$/;
export const ROLES = ['user', 'assistant', 'system'] as const;
export type Role = (typeof ROLES)[number];

export const badRequest = (message: string | string[]): HttpError => new HttpError(400, message);

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function requireUuid(value: string, what: string): string {
  if (!UUID.test(value)) throw badRequest(`${what} must be a UUID`);
  return value;
}

/** A JSON object body; unknown properties are refused, as the app's whitelist does. */
export function objectBody(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the body must be a JSON object');
  }
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0)
    throw badRequest(unknown.map((key) => `property ${key} should not exist`));
  return body as Record<string, unknown>;
}

interface StringRule {
  min: number;
  max: number;
  trim?: boolean;
  /** Reject strings that are empty after trimming even though the stored value is untrimmed. */
  notBlank?: boolean;
}

/** A string PostgreSQL can store (no NUL) within the length bounds; trimmed when asked. */
export function stringField(value: unknown, name: string, rule: StringRule): string {
  if (typeof value !== 'string') throw badRequest(`${name} must be a string`);
  const text = rule.trim ? value.trim() : value;
  if (text.includes('\u0000')) throw badRequest(`${name} must not contain NUL characters`);
  if (text.length < rule.min || text.length > rule.max) {
    throw badRequest(`${name} must be between ${rule.min} and ${rule.max} characters`);
  }
  if (rule.notBlank && text.trim().length === 0) throw badRequest(`${name} must not be blank`);
  return text;
}

export function emailField(value: unknown): string {
  const email = stringField(value, 'email', { min: 3, max: 254, trim: true }).toLowerCase();
  if (!EMAIL.test(email)) throw badRequest('email must be an email');
  return email;
}

export function roleField(value: unknown): Role {
  if (value === undefined) return 'user';
  if (typeof value !== 'string' || !(ROLES as readonly string[]).includes(value)) {
    throw badRequest(`role must be one of: ${ROLES.join(', ')}`);
  }
  return value as Role;
}

/** Query parameters with a whitelist; repeated parameters are refused. */
export function queryParams(search: string, allowed: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  if (search === '') return params;
  for (const [key, value] of new URLSearchParams(search)) {
    if (!allowed.includes(key)) throw badRequest(`property ${key} should not exist`);
    if (params.has(key)) throw badRequest(`${key} must not be repeated`);
    params.set(key, value);
  }
  return params;
}

export function intParam(
  params: Map<string, string>,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = params.get(name);
  if (raw === undefined) return fallback;
  if (!DIGITS.test(raw)) throw badRequest(`${name} must be an integer`);
  const value = Number(raw);
  if (value < min || value > max) throw badRequest(`${name} must be between ${min} and ${max}`);
  return value;
}
