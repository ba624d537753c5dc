import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  ValidateIf,
  validateSync,
} from 'class-validator';

export const NODE_ENVS = ['development', 'production', 'test'] as const;
export type NodeEnv = (typeof NODE_ENVS)[number];

const toInt = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value;
const toBool = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && /^(true|false)$/i.test(value.trim())
    ? value.trim().toLowerCase() === 'true'
    : value;
const emptyToUndefined = ({ value }: { value: unknown }): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

/**
 * Every environment variable the service reads. Unknown variables are ignored (the process
 * environment holds plenty); a known one that is missing or invalid stops start-up.
 */
export class EnvironmentVariables {
  @IsIn(NODE_ENVS)
  NODE_ENV: NodeEnv = 'development';

  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT = 3000;

  /** Defaults to loopback outside production so a dev server is not exposed by accident. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  HOST?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/\S+$/, {
    message: 'DATABASE_URL must be a postgres:// or postgresql:// connection string',
  })
  DATABASE_URL?: string;

  /** Required in production; elsewhere prepareRuntime() generates one and keeps it in DATA_DIR. */
  @Transform(emptyToUndefined)
  @ValidateIf(
    (env: EnvironmentVariables) => env.NODE_ENV === 'production' || env.JWT_SECRET !== undefined,
  )
  @IsString({ message: 'JWT_SECRET is required when NODE_ENV=production' })
  @MinLength(32, { message: 'JWT_SECRET must be at least 32 characters' })
  JWT_SECRET?: string;

  @Transform(toInt)
  @IsInt()
  @Min(60)
  @Max(24 * 3600)
  JWT_EXPIRES_IN = 900;

  /** A session ends after this many days without a refresh. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(365)
  SESSION_IDLE_DAYS = 7;

  /** A session ends this many days after sign-in, whatever happens. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3650)
  SESSION_MAX_DAYS = 30;

  /** `Secure` on the refresh cookie; unset: true in production, false elsewhere. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['true', 'false'], { message: 'COOKIE_SECURE must be true or false' })
  COOKIE_SECURE?: 'true' | 'false';

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  AUTH_RATE_LIMIT = 10;

  /** Comma-separated origins, or `*`. Unset: none in production, any elsewhere. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^(\*|https?:\/\/[^\s,]+(\s*,\s*https?:\/\/[^\s,]+)*)$/, {
    message: 'CORS_ORIGINS must be * or a comma-separated list of http(s) origins',
  })
  CORS_ORIGINS?: string;

  /** The service's public URL (its origin is what counts); the cookie routes trust that origin. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/[^\s/?#]+(\/\S*)?$/i, { message: 'PUBLIC_URL must be an http(s) URL' })
  PUBLIC_URL?: string;

  /** Number of proxy hops to trust for the client address (X-Forwarded-For); 0 trusts none. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(10)
  TRUST_PROXY_HOPS = 0;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL = 'info';

  @IsString()
  @MinLength(1)
  DATA_DIR = './.data';

  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(65535)
  EMBEDDED_PG_PORT = 54329;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(200)
  DB_POOL_SIZE = 10;

  /** Connections beside the pool on which concurrent requests' statements share round trips. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(16)
  DB_PIPELINE_CONNECTIONS = 2;

  /**
   * Pooled connections the expensive statements (search) may hold at once; the rest of the
   * pool stays for the small ones. Unset: half of DB_POOL_SIZE, at least 1.
   */
  @Transform((arg) => toInt({ value: emptyToUndefined(arg) }))
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200)
  DB_HEAVY_CONNECTIONS?: number;

  /** Searches one user may have running at once, across all instances. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100)
  SEARCH_MAX_CONCURRENT_PER_USER = 2;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(60_000)
  DB_CONNECT_TIMEOUT_MS = 2000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(600_000)
  DB_STATEMENT_TIMEOUT_MS = 5000;

  /** How long an Idempotency-Key is remembered, in seconds (the contract says 24 hours). */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(30 * 24 * 3600)
  IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

  /** How long SIGTERM/SIGINT waits for in-flight requests before the process exits anyway. */
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(120_000)
  SHUTDOWN_TIMEOUT_MS = 10_000;

  /** The whole request, headers and body, must arrive within this; else 408 and the connection closes. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  HTTP_REQUEST_TIMEOUT_MS = 30_000;

  /** The request's headers must arrive within this (at most HTTP_REQUEST_TIMEOUT_MS). */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  HTTP_HEADERS_TIMEOUT_MS = 10_000;

  /** An idle keep-alive connection is closed after this; above a reverse proxy's own idle timeout. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(3_600_000)
  HTTP_KEEP_ALIVE_TIMEOUT_MS = 72_000;

  /** Open connections per process; further ones are closed as they arrive. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  HTTP_MAX_CONNECTIONS = 10_000;

  /** An OpenAI-compatible API (…/v1). Unset: the assistant routes answer 503. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^https?:\/\/\S+$/, { message: 'LLM_BASE_URL must be an http(s) URL' })
  LLM_BASE_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  LLM_API_KEY?: string;

  @Transform(emptyToUndefined)
  @ValidateIf(
    (env: EnvironmentVariables) => env.LLM_BASE_URL !== undefined || env.LLM_MODEL !== undefined,
  )
  @IsString({ message: 'LLM_MODEL is required when LLM_BASE_URL is set' })
  @Matches(/^\S{1,200}$/, { message: 'LLM_MODEL must be one model id without spaces' })
  LLM_MODEL?: string;

  /** Comma-separated model ids clients may choose; LLM_MODEL when unset. */
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^\s*[^\s,]{1,200}(\s*,\s*[^\s,]{1,200})*\s*$/, {
    message: 'LLM_MODELS must be a comma-separated list of model ids',
  })
  LLM_MODELS?: string;

  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(10_000_000)
  LLM_CONTEXT_CHARS = 48_000;

  @Transform(toInt)
  @IsInt()
  @Min(100)
  @Max(3_600_000)
  LLM_IDLE_TIMEOUT_MS = 60_000;

  /** `max_tokens` of every streamed request: the most a reply may cost upstream. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  LLM_MAX_TOKENS = 4096;

  /** The most characters (UTF-16 units) of a reply kept; past it the reply fails as too_long. */
  @Transform(toInt)
  @IsInt()
  @Min(1000)
  @Max(16_000_000)
  LLM_REPLY_MAX_CHARS = 100_000;

  @Transform(toBool)
  @IsBoolean({ message: 'LLM_AUTO_TITLE must be true or false' })
  LLM_AUTO_TITLE = true;

  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  LLM_MAX_CONCURRENT_PER_USER = 2;

  /** Prompt + completion tokens per user per UTC day; unset: no limit. */
  @Transform((arg) => toInt({ value: emptyToUndefined(arg) }))
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(1_000_000_000_000)
  LLM_DAILY_TOKEN_LIMIT?: number;

  /** Open event streams per user, counted across instances. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  EVENT_STREAMS_PER_USER = 20;

  /** Open event streams per session (one sign-in), counted across instances. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000)
  EVENT_STREAMS_PER_SESSION = 10;

  /** Bytes one event stream may hold for a client that does not read; past it, closed. */
  @Transform(toInt)
  @IsInt()
  @Min(16 * 1024)
  @Max(256 * 1024 * 1024)
  EVENT_STREAM_QUEUE_BYTES = 1024 * 1024;

  /** An event stream whose client takes nothing for this long, while there is more: closed. */
  @Transform(toInt)
  @IsInt()
  @Min(500)
  @Max(3_600_000)
  EVENT_STREAM_STALL_MS = 30_000;

  /** (v3) The largest import file, in bytes; a larger body is refused (413) as it streams. */
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(16 * 1024 * 1024 * 1024)
  IMPORT_MAX_BYTES = 256 * 1024 * 1024;

  /** Most conversations one import reads; past it the import stops as failed. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(10_000_000)
  IMPORT_MAX_CONVERSATIONS = 100_000;

  /** Most messages one import reads, all conversations together; past it the import stops. */
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(100_000_000)
  IMPORT_MAX_MESSAGES = 1_000_000;

  /** How often an idle instance looks for imports to run (queued, or left by a dead instance). */
  @Transform(toInt)
  @IsInt()
  @Min(50)
  @Max(600_000)
  IMPORT_POLL_MS = 5000;
}

const LLM_OPTIONAL = [
  'LLM_BASE_URL',
  'LLM_API_KEY',
  'LLM_MODEL',
  'LLM_MODELS',
  'LLM_DAILY_TOKEN_LIMIT',
];

export class ConfigValidationError extends Error {
  override name = 'ConfigValidationError';
}

/** Validates and types the environment; throws one line naming the first bad variable. */
export function validateEnv(raw: Record<string, unknown>): EnvironmentVariables {
  const known = Object.keys(new EnvironmentVariables());
  const relevant: Record<string, unknown> = {};
  const optional = [
    'JWT_SECRET',
    'DATABASE_URL',
    'HOST',
    'CORS_ORIGINS',
    'PUBLIC_URL',
    'COOKIE_SECURE',
    'DB_HEAVY_CONNECTIONS',
    ...LLM_OPTIONAL,
  ];
  for (const key of [...known, ...optional]) {
    if (raw[key] !== undefined) relevant[key] = raw[key];
  }
  const env = plainToInstance(EnvironmentVariables, relevant);
  const errors = validateSync(env, { skipMissingProperties: false });
  if (errors.length > 0) {
    const first = errors[0];
    const reason = Object.values(first.constraints ?? {})[0] ?? 'is invalid';
    const line = reason.startsWith(first.property) ? reason : `${first.property} ${reason}`;
    throw new ConfigValidationError(`Invalid configuration: ${line}`);
  }
  if (env.PUBLIC_URL !== undefined && !URL.canParse(env.PUBLIC_URL)) {
    throw new ConfigValidationError('Invalid configuration: PUBLIC_URL must be an http(s) URL');
  }
  // Node refuses to start a server whose headers timeout exceeds its request timeout.
  if (env.HTTP_HEADERS_TIMEOUT_MS > env.HTTP_REQUEST_TIMEOUT_MS) {
    throw new ConfigValidationError(
      'Invalid configuration: HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS',
    );
  }
  return env;
}
