import { registerUser, RegisteredUser, uniqueEmail } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

describe('HTTP hardening (e2e)', () => {
  let t: TestApp;
  let user: RegisteredUser;
  const rooms = async () =>
    Number((await t.db.query<{ n: string }>('SELECT count(*) AS n FROM chat_rooms')).rows[0].n);

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: 'https://app.example.com' });
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  describe('bodies', () => {
    it('refuses a body over 256 KiB with 413', async () => {
      const res = await t.http
        .post('/api/auth/login')
        .set('content-type', 'application/json')
        .send(JSON.stringify({ email: 'a@b.co', password: 'p'.repeat(256 * 1024) }));
      expectErrorBody(res, 413);
    });

    it('takes a body just under 256 KiB to validation (400, not 413)', async () => {
      const res = await t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .send({ title: 't'.repeat(250 * 1024) });
      expectErrorBody(res, 400);
    });

    it('handles a password far over any hashing limit as a validation error, not a hash', async () => {
      const res = await t.http
        .post('/api/auth/register')
        .send({ email: uniqueEmail(), password: '🔑'.repeat(60_000) });
      expectErrorBody(res, 400);
    });

    /** Sends `payload` as the JSON text it is, not re-serialised by supertest. */
    const postRawRoom = (payload: string) =>
      t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .set('content-type', 'application/json')
        .send(payload);

    // class-transformer recurses into nesting: deep enough, the stack overflows (a 500).
    it.each([
      ['deeply nested arrays as a field', `{"title":${deep(50_000)}}`],
      ['deeply nested arrays as the body', deep(100_000)],
      ['deeply nested objects', `{"title":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`],
    ])('is 400 for %s', async (_case, payload) => {
      const before = await rooms();
      const res = await postRawRoom(payload);
      expectErrorBody(res, 400);
      expect(await rooms()).toBe(before);
    });

    it.each([
      ['__proto__', '{"title":"x","__proto__":{"polluted":true}}'],
      ['constructor.prototype', '{"title":"x","constructor":{"prototype":{"polluted":true}}}'],
    ])('rejects a %s key and pollutes nothing', async (_case, payload) => {
      const res = await postRawRoom(payload);
      expectErrorBody(res, 400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each([
      ['malformed JSON', 'application/json', '{"title":'],
      ['an unsupported media type', 'application/xml', '<title>x</title>'],
      ['a form body', 'application/x-www-form-urlencoded', 'title=x'],
    ])('answers %s with a 4xx in the contract shape', async (_case, type, payload) => {
      const res = await t.http
        .post('/api/chat-rooms')
        .set(user.auth)
        .set('content-type', type)
        .send(payload);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expectErrorBody(res, res.status);
    });
  });

  describe('the contract refuses, on every route', () => {
    let room: string;
    beforeAll(async () => {
      room = (await t.http.post('/api/chat-rooms').set(user.auth).send({}).expect(201)).body.id;
    });
    const counts = async () =>
      (
        await t.db.query<{ n: string }>(
          "SELECT (SELECT count(*) FROM users) || '/' || (SELECT count(*) FROM chat_rooms) || '/' || (SELECT count(*) FROM messages) AS n",
        )
      ).rows[0].n;
    const bodyRoutes = () =>
      [
        ['POST /api/auth/register', 'post', '/api/auth/register', false],
        ['POST /api/auth/login', 'post', '/api/auth/login', false],
        ['POST /api/chat-rooms', 'post', '/api/chat-rooms', true],
        ['PATCH /api/chat-rooms/:roomId', 'patch', `/api/chat-rooms/${room}`, true],
        ['POST /api/chat-rooms/:roomId/messages', 'post', `/api/chat-rooms/${room}/messages`, true],
      ] as const;
    const send = (method: string, path: string, auth: boolean, payload: string) => {
      let req = t.http[method as 'post'](path).set('content-type', 'application/json');
      if (auth) req = req.set(user.auth);
      return req.send(payload);
    };

    // null must not create a room with the defaults, nor the others get Nest's "object is expected".
    it.each(['null', '[]', '[{"title":"x"}]', '"x"', '""', '0', '1.5', 'true', 'false'])(
      'answers the JSON body %s (not an object) with 400 on every route with a body',
      async (payload) => {
        const before = await counts();
        for (const [, method, path, auth] of bodyRoutes()) {
          const res = await send(method, path, auth, payload);
          expectErrorBody(res, 400);
          expect(res.body.message).toBe('The body must be a JSON object');
        }
        expect(await counts()).toBe(before);
      },
    );

    // Easily dropped in silence: class-transformer skips a field named like a method of the DTO
    // instance, and a look-up of names in a plain object finds Object.prototype's.
    it.each([...Object.getOwnPropertyNames(Object.prototype), 'prototype'])(
      'refuses the unknown field %s on every route with a body, and names it',
      async (name) => {
        const valid: Record<string, Record<string, string>> = {
          '/api/auth/register': { email: uniqueEmail(), password: 'a password' },
          '/api/auth/login': { email: user.email, password: user.password },
          '/api/chat-rooms': { title: 'x' },
          [`/api/chat-rooms/${room}`]: { title: 'x' },
          [`/api/chat-rooms/${room}/messages`]: { content: 'x' },
        };
        const before = await counts();
        for (const [, method, path, auth] of bodyRoutes()) {
          const payload = `${JSON.stringify(valid[path]).slice(0, -1)},${JSON.stringify(name)}:1}`;
          const res = await send(method, path, auth, payload);
          if (name === '__proto__') {
            expectErrorBody(res, 400); // refused by the JSON parser itself
          } else {
            expectErrorBody(res, 400);
            expect(res.body.message).toEqual([`property ${name} should not exist`]);
          }
        }
        expect(await counts()).toBe(before);
      },
    );

    it.each(['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf'])(
      'refuses the unknown query parameter %s',
      async (name) => {
        for (const path of ['/api/chat-rooms', `/api/chat-rooms/${room}/messages`]) {
          const res = await t.http.get(`${path}?limit=5&${name}=1`).set(user.auth);
          expectErrorBody(res, 400);
          expect(res.body.message).toEqual([`property ${name} should not exist`]);
        }
      },
    );

    // A long one answered 414 with the whole path in `message` (Fastify's maxParamLength).
    it.each([101, 1000, 8000])(
      'answers a malformed id of %i characters with 400 on every route with an id',
      async (length) => {
        const id = 'a'.repeat(length);
        const routes = [
          ['get', `/api/chat-rooms/${id}`],
          ['patch', `/api/chat-rooms/${id}`],
          ['delete', `/api/chat-rooms/${id}`],
          ['get', `/api/chat-rooms/${id}/messages`],
          ['post', `/api/chat-rooms/${id}/messages`],
          ['get', `/api/chat-rooms/${room}/messages?before=${id}`],
        ];
        for (const [method, path] of routes) {
          const res = await t.http[method as 'get'](path)
            .set(user.auth)
            .send({ title: 'x', content: 'x' });
          expectErrorBody(res, 400);
          expect(JSON.stringify(res.body)).not.toContain('a'.repeat(41));
        }
      },
    );

    it('quotes no more than a short excerpt of the client input in a message', async () => {
      const long = 'b'.repeat(5000);
      const unknownRoute = await t.http.get(`/api/${long}`).set(user.auth);
      expectErrorBody(unknownRoute, 404);
      expect(unknownRoute.body.message).toBe(`Cannot GET /api/${'b'.repeat(35)}…`);
      const unknownField = await send('post', '/api/chat-rooms', true, `{"${long}":1}`);
      expectErrorBody(unknownField, 400);
      expect(unknownField.body.message).toEqual([`property ${'b'.repeat(40)}… should not exist`]);
      const many = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, i]));
      const manyFields = await send('post', '/api/chat-rooms', true, JSON.stringify(many));
      expectErrorBody(manyFields, 400);
      expect(manyFields.body.message).toHaveLength(11);
      expect(manyFields.body.message[10]).toBe('and 490 more unknown properties');
    });
  });

  describe('paths, methods and queries', () => {
    // Fastify's own 400 for a bad %-escape carries an extra `code`: it must be ours.
    it('answers a malformed %-escape in the path with the contract body', async () => {
      expectErrorBody(await t.http.get('/api/chat-rooms/%').set(user.auth), 400);
    });

    // @fastify/cors answers a bare OPTIONS with a text/plain 400 unless told otherwise.
    it('does not answer a bare OPTIONS with an empty 400', async () => {
      const res = await t.http.options('/api/chat-rooms');
      expect(res.status).toBeLessThan(400);
    });

    it('answers an unknown method with the contract body', async () => {
      expectErrorBody(await t.http.put('/api/chat-rooms').set(user.auth).send({}), 404);
    });

    it.each([
      'limit=%ED%A0%80',
      'limit=9007199254740993',
      'offset=1e400',
      'limit[]=1',
      'include=messages&include=messages',
    ])('is 400 for ?%s', async (query) => {
      expectErrorBody(await t.http.get(`/api/chat-rooms?${query}`).set(user.auth), 400);
    });
  });

  describe('security headers', () => {
    it('sets helmet headers on API answers', async () => {
      const res = await t.http.get('/api/health').expect(200);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      expect(res.headers['strict-transport-security']).toMatch(/max-age=\d+/);
      expect(res.headers['content-security-policy']).toContain("default-src 'self'");
      expect(res.headers['x-powered-by']).toBeUndefined();
    });

    it('sets every helmet header on errors and on every route too', async () => {
      const headers = [
        'content-security-policy',
        'cross-origin-opener-policy',
        'cross-origin-resource-policy',
        'origin-agent-cluster',
        'referrer-policy',
        'strict-transport-security',
        'x-content-type-options',
        'x-dns-prefetch-control',
        'x-download-options',
        'x-frame-options',
        'x-permitted-cross-domain-policies',
        'x-xss-protection',
      ];
      const reference = await t.http.get('/api/health');
      for (const name of headers) expect(reference.headers[name]).toMatch(/\S/);
      for (const res of [
        reference,
        await t.http.get('/api/chat-rooms').set(user.auth),
        await t.http.post('/api/chat-rooms').set(user.auth).send({ title: 'headers' }),
        await t.http.get('/api/chat-rooms'),
        await t.http.get('/api/nowhere'),
        await t.http.post('/api/chat-rooms').set(user.auth).send('{"title":'),
      ]) {
        for (const name of headers) expect(res.headers[name]).toBe(reference.headers[name]);
      }
      expect(reference.headers['x-xss-protection']).toBe('0');
      expect(reference.headers['referrer-policy']).toBe('no-referrer');
    });

    it('has a CSP under which Swagger UI loads: its scripts are same-origin files', async () => {
      const page = await t.http.get('/api/docs').redirects(1).expect(200);
      const csp: string = page.headers['content-security-policy'];
      expect(csp).toContain("script-src 'self'");
      expect(csp).toMatch(/style-src [^;]*'unsafe-inline'/);
      expect(csp).not.toContain('upgrade-insecure-requests');
      const scripts = [...page.text.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.length).toBeGreaterThan(0);
      for (const [, attributes, inline] of scripts) {
        expect(inline.trim()).toBe(''); // no inline script: 'self' covers them all
        const src = /src="([^"]+)"/.exec(attributes)?.[1];
        expect(src).toBeDefined();
        expect(src).not.toMatch(/^(https?:)?\/\//);
        const url = new URL(src!, 'http://localhost/api/docs/').pathname;
        await t.http.get(url).expect(200);
      }
    });
  });

  describe('CORS', () => {
    it('allows a listed origin, with credentials (the refresh cookie)', async () => {
      const res = await t.http
        .options('/api/chat-rooms')
        .set('Origin', 'https://app.example.com')
        .set('Access-Control-Request-Method', 'POST')
        .set('Access-Control-Request-Headers', 'authorization,content-type');
      expect(res.status).toBe(204);
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
      expect(res.headers['access-control-allow-credentials']).toBe('true');
    });

    it('never allows credentials for `*`', async () => {
      const any = await startTestApp({ CORS_ORIGINS: '*' });
      try {
        const res = await any.http
          .options('/api/auth/refresh')
          .set('Origin', 'https://evil.example.com')
          .set('Access-Control-Request-Method', 'POST');
        expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      } finally {
        await any.close();
      }
    });

    it('gives an unlisted origin no CORS headers', async () => {
      const res = await t.http
        .get('/api/health')
        .set('Origin', 'https://evil.example.com')
        .expect(200);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
    });
  });

  describe('auth rate limiting per client address', () => {
    let limited: TestApp;
    beforeAll(async () => {
      limited = await startTestApp({ AUTH_RATE_LIMIT: '2', TRUST_PROXY_HOPS: '1' });
    });
    afterAll(() => limited.close());

    const login = (ip: string) =>
      limited.http
        .post('/api/auth/login')
        .set('X-Forwarded-For', ip)
        .send({ email: uniqueEmail(), password: 'password-123' });

    it('limits one address without limiting another', async () => {
      expect((await login('203.0.113.7')).status).toBe(401);
      expect((await login('203.0.113.7')).status).toBe(401);
      expectErrorBody(await login('203.0.113.7'), 429);
      expect((await login('198.51.100.9')).status).toBe(401);
    });
  });
});
