import './v8-flags';
import { Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { config as loadDotenv } from 'dotenv';
import { createApp } from './app.factory';
import { ImportRunner } from './import/import-runner';
import { GenerationRegistry } from './assistant/generation-registry';
import type { AppConfig } from './config/configuration';
import { prepareRuntime, Runtime } from './config/runtime';
import { Sql } from './database/sql.service';

/** Time left after the generations' drain to store what they streamed and close. */
const DRAIN_MARGIN_MS = 1500;

/**
 * SIGTERM/SIGINT: stop accepting connections, let in-flight requests finish, close the pool,
 * stop the embedded database, exit 0. A second signal or the timeout exits 1 at once.
 */
function handleShutdown(app: NestFastifyApplication, runtime: Runtime, timeoutMs: number): void {
  const logger = new Logger('Shutdown');
  let closing: { signal: NodeJS.Signals; at: number } | undefined;
  const shutdown = (signal: NodeJS.Signals) => {
    // Ctrl-C under `npm start` arrives twice: from the terminal and forwarded by npm.
    if (closing?.signal === signal && Date.now() - closing.at < 500) return;
    if (closing) {
      logger.warn(`${signal} again: exiting without waiting`);
      process.exit(1);
    }
    closing = { signal, at: Date.now() };
    logger.log(`${signal} received: finishing in-flight requests (at most ${timeoutMs} ms)`);
    setTimeout(() => {
      logger.error('Shutdown timed out: exiting');
      process.exit(1);
    }, timeoutMs).unref();
    // The HTTP server first: Nest's close() destroys modules (the database pool) before it
    // stops the server, which would fail the requests still in flight. Meanwhile running
    // replies may finish; what is left is stored as interrupted a little before the timeout,
    // and their event streams end, so the server can close.
    const generations = app.get(GenerationRegistry).drain(timeoutMs - DRAIN_MARGIN_MS);
    // A running import stops after its current conversation and is queued for any instance.
    const imports = app.get(ImportRunner).stop();
    void Promise.all([app.getHttpAdapter().getInstance().close(), generations, imports])
      .then(() => app.get(Sql).settle())
      .then(() => app.close())
      .then(() => runtime.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error(`Shutdown failed: ${(error as Error)?.name ?? 'unknown error'}`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  // Under `npm start`, a `kill -9` of npm would leave this process (and its database) running
  // with nobody to stop it; when the parent is gone the process is re-parented: shut down.
  if (process.env.npm_lifecycle_event) {
    const parent = process.ppid;
    const watch = setInterval(() => {
      if (process.ppid === parent) return;
      clearInterval(watch);
      shutdown('SIGTERM');
    }, 1000).unref();
  }
}

async function bootstrap(): Promise<void> {
  loadDotenv({ quiet: true });
  const runtime = await prepareRuntime();
  let app: NestFastifyApplication | undefined;
  try {
    app = await createApp({ env: runtime.env });
    const { port, host, shutdownTimeoutMs } = app
      .get(ConfigService<AppConfig, true>)
      .get('app', { infer: true });
    handleShutdown(app, runtime, shutdownTimeoutMs);
    for (const note of runtime.notes) new Logger('Main').log(note);
    await app.listen({ port, host });
    new Logger('Main').log(`Listening on http://${host}:${port}/api (docs at /api/docs)`);
  } catch (error) {
    await app?.close().catch(() => undefined);
    await runtime.stop().catch(() => undefined);
    throw error;
  }
}

bootstrap().catch((error: unknown) => {
  // One clear line (a config error names its variable); no stack trace for the operator to parse.
  process.stderr.write(
    `Start-up failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
