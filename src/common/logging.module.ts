import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DynamicModule, Global, Inject, LoggerService, Module } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Reuses a sane incoming X-Request-Id (a proxy's), otherwise makes one. Fastify's genReqId. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Name and code of an error only: messages of driver errors can quote SQL or parameters. */
function errorFields(err: unknown): { type: unknown; code: unknown } {
  const { name, code } = (err ?? {}) as { name?: unknown; code?: unknown };
  return { type: name, code };
}

/** The application's one pino logger: JSON lines to stdout, or to `stream` (tests read it). */
export function createLogger(level: string, stream?: DestinationStream): Logger {
  return pino({ level, serializers: { err: errorFields } }, stream);
}

/**
 * One line per response, written by a Fastify hook: method, path, status, client address and
 * time, never headers (Authorization) or bodies (passwords). Not pino-http through Nest
 * middleware: that costs an AsyncLocalStorage, which taxes every promise, plus @fastify/middie
 * and its hook on every request.
 */
export function logRequests(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const level: Level = status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
    if (logger.isLevelEnabled(level)) {
      logger[level](
        {
          req: {
            id: request.id,
            method: request.method,
            url: request.url,
            remoteAddress: request.ip,
          },
          res: { statusCode: status },
          responseTime: Math.round(reply.elapsedTime),
        },
        'request completed',
      );
    }
    done();
  });
}

/** Nest's own messages (start-up, route mapping, module errors) as pino lines. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, ...rest: unknown[]): void {
    this.write('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('trace', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Nest passes (message, context) or, for errors, (message, stack, context); stacks are dropped. */
  private write(level: Level, message: unknown, rest: unknown[]): void {
    if (!this.logger.isLevelEnabled(level)) return;
    const last = rest.at(-1);
    const context = typeof last === 'string' && !last.includes('\n') ? last : undefined;
    if (message instanceof Error) {
      this.logger[level]({ context, err: message }, 'error');
    } else if (typeof message === 'object' && message !== null) {
      this.logger[level]({ context, ...message });
    } else {
      this.logger[level]({ context }, String(message));
    }
  }
}

export const APP_LOGGER = Symbol('APP_LOGGER');
/** Injects the application's pino logger. */
export const InjectLogger = () => Inject(APP_LOGGER);

@Global()
@Module({})
export class LoggingModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: APP_LOGGER, useValue: logger }],
      exports: [APP_LOGGER],
    };
  }
}
