import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { startTestApp, TestApp } from './app';
import { FakeModel, startFakeModel } from './fake-model';

export const TEST_LLM_KEY = 'sk-test-0123456789-SECRET-KEY';

export interface AssistantTestApp extends TestApp {
  fake: FakeModel;
  /** http://127.0.0.1:port of the listening app, for event streams. */
  base: string;
}

/** The app listening on a free port, its model a fresh fake OpenAI-compatible server. */
export async function startAssistantApp(
  env: Record<string, string> = {},
  options: { logStream?: DestinationStream; databaseUrl?: string } = {},
): Promise<AssistantTestApp> {
  const fake = await startFakeModel();
  const t = await startTestApp(
    {
      LLM_BASE_URL: fake.url,
      LLM_API_KEY: TEST_LLM_KEY,
      LLM_MODEL: 'fake-model',
      LLM_MODELS: 'fake-model,other-model',
      LLM_AUTO_TITLE: 'false',
      ...env,
    },
    options,
  );
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = t.app.getHttpServer().address() as AddressInfo;
  return {
    ...t,
    fake,
    base: `http://127.0.0.1:${port}`,
    async close() {
      await t.close();
      await fake.close();
    },
  };
}
