import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createApp } from '../app.factory';
import { createOpenApiDocument } from './openapi-document';

/**
 * `npm run openapi -- <file>`: writes the OpenAPI document to a file, for linting and review,
 * without a database. The app is built in Nest's preview mode: the module graph and its routes,
 * but no provider is created, so nothing connects.
 */
async function main(): Promise<void> {
  const file = process.argv[2];
  if (!file) throw new Error('usage: npm run openapi -- <file.json>');
  const app = await createApp({
    preview: true,
    env: {
      NODE_ENV: 'development',
      // Never connected to in preview mode; the configuration only has to be valid.
      DATABASE_URL: 'postgres://openapi@127.0.0.1:1/openapi',
      JWT_SECRET: 'openapi-document-only-never-signs-anything',
      LOG_LEVEL: 'silent',
    },
  });
  writeFileSync(resolve(file), `${JSON.stringify(createOpenApiDocument(app), null, 2)}\n`);
  process.stdout.write(`OpenAPI document written to ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `openapi failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
