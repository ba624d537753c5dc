import { EnvironmentVariables, NodeEnv, validateEnv } from './env.validation';
import { buildLlmConfig, LlmConfig } from './llm.config';

export interface AppSection {
  nodeEnv: NodeEnv;
  port: number;
  host: string;
  logLevel: string;
  /** `true` allows any origin, `false` none. */
  corsOrigins: string[] | boolean;
  trustProxyHops: number;
  shutdownTimeoutMs: number;
  http: HttpLimits;
}

/** How long a client may take to send a request, and how many connections it may hold. */
export interface HttpLimits {
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
}

export interface AuthSection {
  jwtSecret: string;
  rateLimit: number;
}

/** Sessions, their tokens and the refresh cookie (src/auth). */
export interface SessionSection {
  /** Access-token lifetime, seconds (JWT_EXPIRES_IN). */
  accessTokenTtlSeconds: number;
  idleDays: number;
  maxDays: number;
  cookieSecure: boolean;
  /** Origins that may use the cookie routes: PUBLIC_URL's and CORS_ORIGINS (never `*`). */
  trustedOrigins: string[];
  /**
   * Whether the origin named by the request's own Host header is trusted too: only without
   * PUBLIC_URL and outside production, where a Host header is the client's to choose.
   */
  trustHostOrigin: boolean;
}

export interface DatabaseSection {
  url: string;
  poolSize: number;
  pipelineConnections: number;
  /** Pooled connections heavy statements may hold at once (DB_HEAVY_CONNECTIONS). */
  heavyConnections: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

export interface SearchSection {
  maxConcurrentPerUser: number;
}

export interface IdempotencySection {
  ttlSeconds: number;
}

/** Limits of the assistant's event streams (src/assistant/event-stream-slots.ts, sse-stream.ts). */
export interface EventStreamsSection {
  perUser: number;
  perSession: number;
  maxQueuedBytes: number;
  stallTimeoutMs: number;
}

/** (v3) Imports (src/import). */
export interface ImportsSection {
  maxBytes: number;
  maxConversations: number;
  maxMessages: number;
  pollMs: number;
}

export interface AppConfig {
  app: AppSection;
  auth: AuthSection;
  session: SessionSection;
  database: DatabaseSection;
  llm: LlmConfig;
  idempotency: IdempotencySection;
  search: SearchSection;
  eventStreams: EventStreamsSection;
  imports: ImportsSection;
}

function corsOrigins(env: EnvironmentVariables): string[] | boolean {
  if (env.CORS_ORIGINS === undefined) return env.NODE_ENV !== 'production';
  if (env.CORS_ORIGINS.trim() === '*') return true;
  return env.CORS_ORIGINS.split(',').map((origin) => origin.trim().replace(/\/$/, ''));
}

/**
 * Builds the typed configuration from the raw environment. `prepareRuntime()` has already
 * filled in DATABASE_URL and JWT_SECRET for development, so both are required here.
 */
export function buildConfig(raw: Record<string, unknown>): AppConfig {
  const env = validateEnv(raw);
  if (!env.DATABASE_URL) {
    throw new Error('Invalid configuration: DATABASE_URL is not set and no embedded database runs');
  }
  if (!env.JWT_SECRET) {
    throw new Error('Invalid configuration: JWT_SECRET is required');
  }
  if (env.DB_HEAVY_CONNECTIONS !== undefined && env.DB_HEAVY_CONNECTIONS > env.DB_POOL_SIZE) {
    throw new Error('Invalid configuration: DB_HEAVY_CONNECTIONS must not exceed DB_POOL_SIZE');
  }
  const cors = corsOrigins(env);
  return {
    app: {
      nodeEnv: env.NODE_ENV,
      port: env.PORT,
      host: env.HOST ?? (env.NODE_ENV === 'production' ? '0.0.0.0' : '127.0.0.1'),
      logLevel: env.LOG_LEVEL,
      corsOrigins: cors,
      trustProxyHops: env.TRUST_PROXY_HOPS,
      shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
      http: {
        requestTimeoutMs: env.HTTP_REQUEST_TIMEOUT_MS,
        headersTimeoutMs: env.HTTP_HEADERS_TIMEOUT_MS,
        keepAliveTimeoutMs: env.HTTP_KEEP_ALIVE_TIMEOUT_MS,
        maxConnections: env.HTTP_MAX_CONNECTIONS,
      },
    },
    auth: {
      jwtSecret: env.JWT_SECRET,
      rateLimit: env.AUTH_RATE_LIMIT,
    },
    session: {
      accessTokenTtlSeconds: env.JWT_EXPIRES_IN,
      idleDays: env.SESSION_IDLE_DAYS,
      maxDays: env.SESSION_MAX_DAYS,
      cookieSecure:
        env.COOKIE_SECURE === undefined
          ? env.NODE_ENV === 'production'
          : env.COOKIE_SECURE === 'true',
      trustedOrigins: [
        ...(env.PUBLIC_URL ? [new URL(env.PUBLIC_URL).origin] : []),
        ...(Array.isArray(cors) ? cors : []),
      ],
      trustHostOrigin: env.PUBLIC_URL === undefined && env.NODE_ENV !== 'production',
    },
    database: {
      url: env.DATABASE_URL,
      poolSize: env.DB_POOL_SIZE,
      pipelineConnections: env.DB_PIPELINE_CONNECTIONS,
      heavyConnections: env.DB_HEAVY_CONNECTIONS ?? Math.max(1, Math.floor(env.DB_POOL_SIZE / 2)),
      connectTimeoutMs: env.DB_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS,
    },
    llm: buildLlmConfig(env),
    idempotency: { ttlSeconds: env.IDEMPOTENCY_TTL_SECONDS },
    search: { maxConcurrentPerUser: env.SEARCH_MAX_CONCURRENT_PER_USER },
    eventStreams: {
      perUser: env.EVENT_STREAMS_PER_USER,
      perSession: env.EVENT_STREAMS_PER_SESSION,
      maxQueuedBytes: env.EVENT_STREAM_QUEUE_BYTES,
      stallTimeoutMs: env.EVENT_STREAM_STALL_MS,
    },
    imports: {
      maxBytes: env.IMPORT_MAX_BYTES,
      maxConversations: env.IMPORT_MAX_CONVERSATIONS,
      maxMessages: env.IMPORT_MAX_MESSAGES,
      pollMs: env.IMPORT_POLL_MS,
    },
  };
}
