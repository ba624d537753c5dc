import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import type { DestinationStream } from 'pino';
import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';
import { createApp } from '../../src/app.factory';
import { createTestDatabase } from './database';

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789';

export interface TestApp {
  app: NestFastifyApplication;
  http: TestAgent;
  /** A direct connection to the file's database, to check what the API wrote. */
  db: Client;
  databaseUrl: string;
  close(): Promise<void>;
}

/**
 * The production app (same factory as main.ts) on a fresh database of its own. Rate limits are
 * raised so that only the tests about them meet them.
 */
export async function startTestApp(
  env: Record<string, string> = {},
  options: { logStream?: DestinationStream; databaseUrl?: string } = {},
): Promise<TestApp> {
  const database = options.databaseUrl
    ? { url: options.databaseUrl, drop: async () => {} }
    : await createTestDatabase();
  const app = await createApp({
    logStream: options.logStream,
    env: {
      NODE_ENV: 'test',
      DATABASE_URL: database.url,
      JWT_SECRET: TEST_JWT_SECRET,
      AUTH_RATE_LIMIT: '100000',
      LOG_LEVEL: options.logStream ? 'info' : (process.env.TEST_LOG_LEVEL ?? 'silent'),
      ...env,
    },
  });
  await app.getHttpAdapter().getInstance().ready();
  const db = new Client({ connectionString: database.url });
  await db.connect();
  return {
    app,
    http: request(app.getHttpServer()),
    db,
    databaseUrl: database.url,
    async close() {
      await db.end();
      await app.close();
      await database.drop();
    },
  };
}
