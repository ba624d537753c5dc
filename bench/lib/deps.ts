/**
 * Typed access to two runtime dependencies of the bench: `pg` and `autocannon`.
 *
 * The repository has no `@types/autocannon`, and `npm run typecheck` covers bench/. Rather than an
 * ambient `declare module` (which would silently shadow real typings as soon as someone installs
 * them), the modules are loaded through createRequire and typed with the small surface the bench
 * actually uses. `pg` is typed the same way, so the floor's use of it stays visible in one
 * place.
 */
import { createRequire } from 'node:module';

const load = createRequire(__filename);

// ---------------------------------------------------------------------------------------------
// pg
// ---------------------------------------------------------------------------------------------

export interface PgQueryConfig {
  /** A name makes node-postgres prepare the statement once per connection and reuse it. */
  name?: string;
  text: string;
  values?: unknown[];
  /** Result type parsers (node-postgres' `CustomTypesConfig`). */
  types?: unknown;
}

export interface PgResult<R> {
  rows: R[];
  rowCount: number | null;
}

export interface PgQueryable {
  query<R = Record<string, unknown>>(text: string, values?: unknown[]): Promise<PgResult<R>>;
  query<R = Record<string, unknown>>(config: PgQueryConfig): Promise<PgResult<R>>;
}

export interface PgPoolClient extends PgQueryable {
  release(err?: Error | boolean): void;
}

export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): this;
}

export interface PgClient extends PgQueryable {
  connect(): Promise<void>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): this;
}

export interface PgConnectionConfig {
  connectionString?: string;
  max?: number;
  idleTimeoutMillis?: number;
  connectionTimeoutMillis?: number;
  application_name?: string;
  keepAlive?: boolean;
}

interface PgModule {
  Pool: new (config: PgConnectionConfig) => PgPool;
  Client: new (config: PgConnectionConfig) => PgClient;
  escapeIdentifier(identifier: string): string;
  escapeLiteral(literal: string): string;
}

export const pg = load('pg') as PgModule;

/** The error class node-postgres throws for server errors: `code` is the SQLSTATE. */
export interface PgDatabaseError extends Error {
  code?: string;
}

// ---------------------------------------------------------------------------------------------
// autocannon (only what the load worker uses)
// ---------------------------------------------------------------------------------------------

export interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Called before every request; returning the (mutated) request sends it. */
  setupRequest?: (req: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest;
  /** Called with every response, before the connection's next request is built. */
  onResponse?: (
    status: number,
    body: string,
    context: Record<string, unknown>,
    headers: Record<string, string | string[]>,
  ) => void;
}

export interface AutocannonClient {
  setRequests(requests: AutocannonRequest[]): void;
  setHeaders(headers: Record<string, string>): void;
}

export interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  pipelining?: number;
  timeout?: number;
  requests?: AutocannonRequest[];
  setupClient?: (client: AutocannonClient) => void;
}

export interface AutocannonHistogram {
  average: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  total: number;
  p50: number;
  p90: number;
  p99: number;
  sent?: number;
}

export interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  resets: number;
  '2xx': number;
  '4xx': number;
  '5xx': number;
  statusCodeStats: Record<string, { count: number }>;
  latency: AutocannonHistogram;
  requests: AutocannonHistogram & { sent: number };
  throughput: AutocannonHistogram;
}

export interface AutocannonInstance {
  stop(): void;
}

type AutocannonFn = (
  opts: AutocannonOptions,
  cb: (err: Error | null, result: AutocannonResult) => void,
) => AutocannonInstance;

export const autocannon = load('autocannon') as AutocannonFn;
