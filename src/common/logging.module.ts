import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { DynamicModule, Module, RequestMethod } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import type { AppConfig } from '../config/configuration';

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** Reuses a sane incoming X-Request-Id (a proxy's), otherwise makes one. Fastify's genReqId. */
export function requestId(req: IncomingMessage): string {
  const incoming = req.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * Structured request logs (nestjs-pino). Serializers whitelist what is logged — method, path,
 * status, client address — so headers (Authorization) and bodies (passwords) never are.
 */
@Module({})
export class LoggingModule {
  static forRoot(stream?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [ConfigService],
          useFactory: (config: ConfigService<AppConfig, true>) => ({
            forRoutes: [{ path: '{*path}', method: RequestMethod.ALL }],
            pinoHttp: {
              level: config.get('app.logLevel', { infer: true }),
              // Fastify has already given the request its id (see createApp).
              genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? requestId(req),
              customLogLevel: (_req, res, err) =>
                err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
              serializers: {
                req: (req: {
                  id: string;
                  method: string;
                  url: string;
                  remoteAddress?: string;
                }) => ({
                  id: req.id,
                  method: req.method,
                  url: req.url,
                  remoteAddress: req.remoteAddress,
                }),
                res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
                err: (err: Error & { code?: unknown }) => ({ type: err.name, code: err.code }),
              },
              redact: { paths: ['req.headers', 'res.headers'], remove: true },
              stream,
            },
          }),
        }),
      ],
    };
  }
}
