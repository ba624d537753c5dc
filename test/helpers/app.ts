import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client } from 'pg';
import type { DestinationStream } from 'pino';
import request, { Response } from 'supertest';
import type { SuperAgentRequest } from 'superagent';
import type TestAgent from 'supertest/lib/agent';
import { createApp } from '../../src/app.factory';
import { createTestDatabase } from './database';
import { OpenApiResponses } from './openapi-responses';

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
 * A supertest plugin: a response that the OpenAPI document does not declare (an undocumented
 * status, a body that does not match its schema) fails the request, hence the test.
 */
function checkAgainst(contract: OpenApiResponses) {
  return (req: SuperAgentRequest) => {
    const end = req.end.bind(req);
    req.end = ((callback?: (error: unknown, res: Response) => void) =>
      end((error: unknown, res: Response) => {
        const problem = res ? contract.check(req.method, req.url, res) : undefined;
        callback?.(problem ? new Error(`OpenAPI contract: ${problem}`) : error, res);
      })) as typeof req.end;
  };
}

const HTTP_METHODS = new Set(['get', 'post', 'put', 'patch', 'delete', 'head', 'options']);

/** The agent, with every request it makes checked against the document. */
function checkedAgent(agent: TestAgent, contract: OpenApiResponses): TestAgent {
  const check = checkAgainst(contract);
  return new Proxy(agent, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof property !== 'string' || !HTTP_METHODS.has(property)) return value;
      return (...args: unknown[]) => {
        const req = (value as (...a: unknown[]) => SuperAgentRequest).apply(target, args);
        check(req);
        return req;
      };
    },
  });
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
  const fastify = app.getHttpAdapter().getInstance();
  await fastify.ready();
  const db = new Client({ connectionString: database.url });
  await db.connect();
  // The document the app serves, fetched once: every response of `http` must match it.
  const document = (await fastify.inject({ method: 'GET', url: '/api/docs-json' })).json();
  const contract = new OpenApiResponses(document);
  return {
    app,
    http: checkedAgent(request(app.getHttpServer()), contract),
    db,
    databaseUrl: database.url,
    async close() {
      await db.end();
      await app.close();
      await database.drop();
    },
  };
}
