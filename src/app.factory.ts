import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { requestId } from './common/logging.module';
import { AppConfig, buildConfig } from './config/configuration';

/** Bodies above this are refused with 413 before they are parsed. */
export const BODY_LIMIT_BYTES = 256 * 1024;

export interface CreateAppOptions {
  /** Layered over process.env (the runtime's generated values, or a test's settings). */
  env?: Record<string, string | undefined>;
}

function setUpSwagger(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Chat backend API')
      .setDescription(
        'Users keep conversations with an AI: chat rooms and their messages. ' +
          'Every route except register, login and health needs `Authorization: Bearer <accessToken>`.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  SwaggerModule.setup('api/docs', app, document, {
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
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.app.trustProxyHops > 0 ? config.app.trustProxyHops : false,
    genReqId: requestId,
    // Request logs come from nestjs-pino.
    logger: false,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config), adapter, {
    bufferLogs: true,
  });
  app.useLogger(app.get(Logger));
  app.flushLogs();
  app.setGlobalPrefix('api');
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onRequest', async (request, reply) => {
      void reply.header('x-request-id', request.id);
    });
  setUpSwagger(app);
  await app.init();
  return app;
}
