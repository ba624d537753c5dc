import { IncomingMessage, ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import fastifyCookie from '@fastify/cookie';
import fastifyCors from '@fastify/cors';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { SwaggerModule } from '@nestjs/swagger';
import helmet from 'helmet';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { errorBody, toErrorBody } from './common/filters/all-exceptions.filter';
import { limitJsonDepth } from './common/json-body';
import { streamUploads } from './import/upload-body';
import { createLogger, logRequests, PinoNestLogger, requestId } from './common/logging.module';
import { AppConfig, buildConfig, HttpLimits } from './config/configuration';
import { createOpenApiDocument } from './openapi/openapi-document';

/** Bodies above this are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export interface CreateAppOptions {
  /** Layered over process.env (the runtime's generated values, or a test's settings). */
  env?: Record<string, string | undefined>;
  /** Where log lines go instead of stdout (tests read them back). */
  logStream?: DestinationStream;
  /**
   * Nest's preview mode: the module graph and routes without creating providers, so nothing
   * connects to the database (`npm run openapi`).
   */
  preview?: boolean;
}

/**
 * Helmet's defaults, with what Swagger UI needs: its inline styles and the data: images of its
 * theme. Scripts stay 'self' only: Nest serves Swagger UI's initialiser as a file.
 *
 * helmet's headers do not depend on the request, so helmet runs once and its headers are kept:
 * @fastify/helmet rebuilds the whole middleware (and re-parses the CSP) on every request.
 */
const CONTENT_SECURITY_POLICY = {
  directives: {
    defaultSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", 'data:'],
    scriptSrc: ["'self'"],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    // Served over plain HTTP on a LAN address, Swagger UI's own files would be upgraded to
    // https and fail; TLS is the reverse proxy's business.
    upgradeInsecureRequests: null,
  },
};

/** The headers helmet sets on a response, collected from one dry run. */
function helmetHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: unknown) => (headers[name.toLowerCase()] = String(value)),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  helmet({ contentSecurityPolicy: CONTENT_SECURITY_POLICY })(
    {} as IncomingMessage,
    response as unknown as ServerResponse,
    (error?: unknown) => {
      if (error) throw error as Error;
    },
  );
  return headers;
}

/** What Node refuses before a request reaches Fastify, by its error code. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time'],
  HPE_HEADER_OVERFLOW: [431, 'Request headers are too large'],
};

/**
 * Answers a request Node gives up on (not received within HTTP_REQUEST_TIMEOUT_MS or
 * HTTP_HEADERS_TIMEOUT_MS, headers too large, malformed) with the contract's error body, then
 * closes the connection. As Node's own handler does, it writes nothing into a response
 * already started on the socket.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && !inFlight?.headersSent) {
    const [status, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Malformed request'];
    const body = JSON.stringify(errorBody(status, message));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n` +
        `Content-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/**
 * Node's bounds on a client's time. requestTimeout and headersTimeout cover receiving a request
 * only, so a long response (an event stream) is never cut; Node checks them every
 * connectionsCheckingInterval (30 s by default, too coarse for a 10 s headers timeout).
 * No idle-socket timeout (Fastify's connectionTimeout): an event stream may be quiet for long
 * while the model thinks, and every other idle state is bounded by these three.
 */
function serverTimeouts(limits: HttpLimits) {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    http: {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, Math.max(100, limits.headersTimeoutMs / 10)),
    },
    clientErrorHandler: answerClientError,
  };
}

function setUpSwagger(app: NestFastifyApplication): void {
  SwaggerModule.setup('api/docs', app, createOpenApiDocument(app), {
    jsonDocumentUrl: 'api/docs-json',
    swaggerOptions: { persistAuthorization: true },
  });
}

/**
 * Builds the application exactly as production runs it, without listening. main.ts and every
 * e2e test use this one function.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<NestFastifyApplication> {
  const config: AppConfig = buildConfig({ ...process.env, ...options.env });
  const hops = config.app.trustProxyHops;
  const adapter = new FastifyAdapter({
    ...serverTimeouts(config.app.http),
    bodyLimit: BODY_LIMIT_BYTES,
    // A path parameter of any length reaches its route, whose pipe answers 400 for a malformed
    // id; past Fastify's default of 100 it would answer 414 with the whole path echoed. Node's
    // own limit on the request line (16 KiB of headers) still bounds it.
    routerOptions: { maxParamLength: 64 * 1024 },
    // The nearest `hops` addresses are trusted proxies. Given a number, Fastify 5.12 trusts no
    // hop at all, so the count is a function.
    trustProxy: hops > 0 ? (_address: string, hop: number) => hop < hops : false,
    genReqId: requestId,
    // Errors Fastify raises before routing (a malformed %-escape in the path) get our body too.
    frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
      const body = toErrorBody(error);
      void reply.status(body.statusCode).send(body);
    },
    // Request logs come from one onResponse hook (logRequests), not a child logger per request.
    logger: false,
    // No Nest middleware here, so no @fastify/middie and its hook on every request.
    skipMiddie: true,
  });
  const logger = createLogger(config.app.logLevel, options.logStream);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, logger),
    adapter,
    // Fastify's own body parsers are used (see limitJsonDepth), not Nest's copies of them.
    { bufferLogs: true, bodyParser: false, preview: options.preview ?? false },
  );
  app.useLogger(new PinoNestLogger(logger));
  app.flushLogs();
  app.setGlobalPrefix('api');
  const fastify = app.getHttpAdapter().getInstance();
  // Connections past this are closed as they arrive, so the others keep their memory and sockets.
  fastify.server.maxConnections = config.app.http.maxConnections;
  // @fastify/cors registered as a plain plugin, not through app.enableCors(): that copies every
  // reply's CORS headers to the raw response for Nest middleware, which this app has none of.
  await fastify.register(fastifyCors, {
    origin: config.app.corsOrigins,
    // The refresh cookie may ride only with the origins CORS_ORIGINS lists, never with `*`
    // (or the any-origin default of development).
    credentials: Array.isArray(config.app.corsOrigins),
    // What a browser client on another origin must read: ETag (to send back as If-Match), Location.
    exposedHeaders: ['x-request-id', 'retry-after', 'idempotent-replayed', 'etag', 'location'],
    maxAge: 600,
    // A bare OPTIONS is answered like a preflight instead of a text/plain 400.
    strictPreflight: false,
  });
  // Parses the Cookie header (the refresh cookie); cookies are not signed: the token is its own proof.
  await fastify.register(fastifyCookie);
  // One synchronous hook for the per-request headers: it runs on every request.
  const securityHeaders = helmetHeaders();
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.headers(securityHeaders).header('x-request-id', request.id);
    done();
  });
  logRequests(fastify, logger);
  limitJsonDepth(fastify);
  streamUploads(fastify);
  setUpSwagger(app);
  await app.init();
  return app;
}
