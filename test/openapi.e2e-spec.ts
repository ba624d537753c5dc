import type { OpenAPIObject } from '@nestjs/swagger';
import { createApp } from '../src/app.factory';
import { createOpenApiDocument } from '../src/openapi/openapi-document';
import { startTestApp, TestApp } from './helpers/app';
import { OpenApiResponses } from './helpers/openapi-responses';

const OPERATIONS = ['get', 'put', 'post', 'delete', 'patch'] as const;

describe('the OpenAPI document (e2e)', () => {
  let t: TestApp;
  let doc: OpenAPIObject;
  beforeAll(async () => {
    t = await startTestApp();
    doc = (await t.http.get('/api/docs-json').expect(200)).body as OpenAPIObject;
  });
  afterAll(() => t.close());

  const operations = () =>
    Object.entries(doc.paths).flatMap(([path, item]) =>
      OPERATIONS.filter((m) => item[m]).map((m) => ({ path, method: m, op: item[m]! })),
    );

  it('is what `npm run openapi` writes without a database (Nest preview mode)', async () => {
    const preview = await createApp({
      preview: true,
      env: {
        DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', // nothing listens there
        JWT_SECRET: 'x'.repeat(40),
        LOG_LEVEL: 'silent',
      },
    });
    expect(JSON.parse(JSON.stringify(createOpenApiDocument(preview)))).toEqual(doc);
  });

  it('has servers, a license, and every operation documents its 4xx answers with the error body', () => {
    expect(doc.servers?.length).toBeGreaterThan(0);
    expect(doc.info.license?.name).toBe('MIT');
    for (const { path, method, op } of operations()) {
      // Health takes no body, parameter or token: nothing a client sends makes it a 4xx.
      if (path === '/api/health') continue;
      const clientErrors = Object.keys(op.responses).filter((status) => /^4/.test(status));
      expect({ path, method, clientErrors: clientErrors.length > 0 }).toEqual({
        path,
        method,
        clientErrors: true,
      });
      for (const status of clientErrors) {
        expect({
          path,
          method,
          status,
          content: (op.responses[status] as { content?: unknown }).content,
        }).toEqual({
          path,
          method,
          status,
          content: {
            'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } },
          },
        });
      }
    }
  });

  it('speaks to API users: no guard, query or statement details in its descriptions', () => {
    const text = JSON.stringify(doc);
    expect(text).not.toMatch(/Guard|SELECT|INSERT|UPDATE \w|query count|statement|LATERAL|ts-node/);
  });

  describe('the response check every e2e request goes through', () => {
    let contract: OpenApiResponses;
    beforeAll(() => {
      contract = new OpenApiResponses(doc);
    });
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const user = {
      id: '0b8f7e5c-2f7a-4d2e-9c43-5d2f3c9e8a11',
      email: 'a@example.com',
      displayName: null,
      createdAt: '2026-01-31T12:00:00.000Z',
    };
    const check = (method: string, url: string, status: number, body: unknown) =>
      contract.check(method, url, { status, headers: json, body, text: JSON.stringify(body) });

    it('passes a documented answer', () => {
      expect(check('GET', '/api/users/me', 200, user)).toBeUndefined();
      expect(
        check('GET', '/api/chat-rooms/x', 404, {
          statusCode: 404,
          error: 'Not Found',
          message: 'x',
        }),
      ).toBeUndefined();
    });

    it('fails an undocumented status', () => {
      expect(check('GET', '/api/users/me', 418, {})).toMatch(/status 418 is not documented/);
    });

    it('fails a body that does not match: a field too many, a wrong type, a missing field', () => {
      expect(check('GET', '/api/users/me', 200, { ...user, passwordHash: 'x' })).toMatch(
        /additional properties/,
      );
      expect(check('GET', '/api/users/me', 200, { ...user, createdAt: 5 })).toMatch(/createdAt/);
      expect(check('GET', '/api/users/me', 200, { ...user, email: undefined })).toMatch(/email/);
      expect(check('GET', '/api/users/me', 401, { statusCode: 401 })).toMatch(/error|message/);
    });

    it('takes routes from the document: an unknown route may only answer the error body', () => {
      expect(
        check('GET', '/api/nope', 404, { statusCode: 404, error: 'Not Found', message: 'x' }),
      ).toBeUndefined();
      expect(check('GET', '/api/nope', 200, {})).toMatch(/no such operation/);
    });
  });
});
