import { startTestApp, TestApp } from './helpers/app';
import { LogCapture } from './helpers/leaks';
import { registerUser } from './factories/users';

describe('operations (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('GET /api/health is 200 while the database answers', async () => {
    const res = await t.http.get('/api/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info.database.status).toBe('up');
  });

  it('echoes a sane X-Request-Id and makes one up otherwise', async () => {
    const given = await t.http.get('/api/health').set('x-request-id', 'trace-42').expect(200);
    expect(given.headers['x-request-id']).toBe('trace-42');
    const hostile = await t.http
      .get('/api/health')
      .set('x-request-id', 'a b\u00ff<script>')
      .expect(200);
    expect(hostile.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('logs one line per request: id, method, path, status, address and time, no headers', async () => {
    const logs = new LogCapture();
    const logged = await startTestApp({}, { logStream: logs.stream });
    try {
      const user = await registerUser(logged.http);
      await logged.http.get('/api/chat-rooms?limit=5').set(user.auth).set('x-request-id', 'op-1');
      await logged.http
        .get('/api/chat-rooms/not-a-uuid')
        .set(user.auth)
        .set('x-request-id', 'op-2');
      const lines = logs.lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((line) => line.msg === 'request completed');
      const byId = (id: string) => lines.filter((line) => (line.req as { id: string }).id === id);

      expect(byId('op-1')).toEqual([
        expect.objectContaining({
          level: 30,
          req: {
            id: 'op-1',
            method: 'GET',
            url: '/api/chat-rooms?limit=5',
            remoteAddress: expect.any(String),
          },
          res: { statusCode: 200 },
          responseTime: expect.any(Number),
        }),
      ]);
      expect(byId('op-2')).toEqual([
        expect.objectContaining({ level: 40, res: { statusCode: 400 } }),
      ]);
      expect(logs.text).not.toContain(user.token);
      expect(logs.text).not.toMatch(/authorization|user-agent/i);
    } finally {
      await logged.close();
    }
  });

  it('serves Swagger UI and an OpenAPI document with bearer auth on protected routes', async () => {
    const ui = await t.http.get('/api/docs').redirects(1).expect(200);
    expect(ui.text).toContain('swagger-ui');

    const doc = (await t.http.get('/api/docs-json').expect(200)).body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    // The bearer token everywhere, as the global guard does; public routes say `security: []`.
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/users/me'].get.security ?? doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/chat-rooms'].post.security ?? doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/api/auth/login'].post.security).toEqual([]);
    expect(doc.paths['/api/auth/register'].post.security).toEqual([]);
    expect(doc.paths['/api/health'].get.security).toEqual([]);
    const register = doc.components.schemas.RegisterDto;
    expect(register.required).toEqual(expect.arrayContaining(['email', 'password']));
    expect(register.properties.password).toMatchObject({ minLength: 8, maxLength: 128 });
    expect(doc.components.schemas.UserResponseDto.properties).not.toHaveProperty('passwordHash');
  });

  it('documents the session routes: the cookie scheme, every status they answer', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body;
    expect(doc.components.securitySchemes.refresh_token).toMatchObject({
      type: 'apiKey',
      in: 'cookie',
      name: 'refresh_token',
    });
    const statuses = (path: string, method: string) =>
      Object.keys(doc.paths[path][method].responses).sort();
    expect(doc.paths['/api/auth/refresh'].post.security).toEqual([{ refresh_token: [] }]);
    // Besides their own: 413 and 415 wherever a body is read, 503 everywhere (the database).
    const body = ['413', '415', '503'];
    expect(statuses('/api/auth/refresh', 'post')).toEqual(['200', '400', '401', '403', ...body]);
    expect(statuses('/api/auth/logout', 'post')).toEqual(['204', '400', '403', ...body]);
    expect(statuses('/api/auth/sessions', 'get')).toEqual(['200', '401', '503']);
    expect(statuses('/api/auth/sessions', 'delete')).toEqual(['204', '400', '401', ...body]);
    expect(statuses('/api/auth/sessions/{sessionId}', 'delete')).toEqual([
      '204',
      '400',
      '401',
      '404',
      ...body,
    ]);
    expect(statuses('/api/users/me/password', 'post')).toEqual(['204', '400', '401', ...body]);
    expect(doc.paths['/api/auth/sessions'].get.security).toEqual([{ bearer: [] }]);
    const session = doc.components.schemas.SessionResponseDto;
    expect(Object.keys(session.properties).sort()).toEqual([
      'createdAt',
      'current',
      'expiresAt',
      'id',
      'lastUsedAt',
      'userAgent',
    ]);
  });

  it('answers an unknown route with the contract error body', async () => {
    const res = await t.http.get('/api/does-not-exist').expect(404);
    expect(res.body).toEqual({ statusCode: 404, error: 'Not Found', message: expect.any(String) });
  });
});
