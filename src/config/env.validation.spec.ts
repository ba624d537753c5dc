import { buildConfig } from './configuration';
import { validateEnv } from './env.validation';

const SECRET = 's'.repeat(32);

describe('validateEnv', () => {
  it('applies the documented defaults', () => {
    const env = validateEnv({});
    expect(env).toMatchObject({
      NODE_ENV: 'development',
      PORT: 3000,
      JWT_EXPIRES_IN: 900,
      SESSION_IDLE_DAYS: 7,
      SESSION_MAX_DAYS: 30,
      AUTH_RATE_LIMIT: 10,
      EMBEDDED_PG_PORT: 54329,
      DB_POOL_SIZE: 10,
      DB_PIPELINE_CONNECTIONS: 2,
      HTTP_REQUEST_TIMEOUT_MS: 30_000,
      HTTP_HEADERS_TIMEOUT_MS: 10_000,
      HTTP_KEEP_ALIVE_TIMEOUT_MS: 72_000,
      HTTP_MAX_CONNECTIONS: 10_000,
    });
  });

  it('parses numbers from strings', () => {
    expect(validateEnv({ PORT: '8080', AUTH_RATE_LIMIT: ' 25 ' })).toMatchObject({
      PORT: 8080,
      AUTH_RATE_LIMIT: 25,
    });
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ JWT_SECRET: 'short' }, 'JWT_SECRET'],
    [{ NODE_ENV: 'production' }, 'JWT_SECRET'],
    [{ JWT_EXPIRES_IN: '0' }, 'JWT_EXPIRES_IN'],
    [{ SESSION_IDLE_DAYS: '0' }, 'SESSION_IDLE_DAYS'],
    [{ SESSION_MAX_DAYS: 'month' }, 'SESSION_MAX_DAYS'],
    [{ COOKIE_SECURE: 'yes' }, 'COOKIE_SECURE'],
    [{ AUTH_RATE_LIMIT: '-1' }, 'AUTH_RATE_LIMIT'],
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL'],
    [{ CORS_ORIGINS: 'not a url' }, 'CORS_ORIGINS'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ DB_PIPELINE_CONNECTIONS: '17' }, 'DB_PIPELINE_CONNECTIONS'],
    [{ LLM_BASE_URL: 'http://127.0.0.1:11434/v1' }, 'LLM_MODEL'],
    [{ LLM_BASE_URL: 'ollama', LLM_MODEL: 'm' }, 'LLM_BASE_URL'],
    [{ LLM_AUTO_TITLE: 'maybe' }, 'LLM_AUTO_TITLE'],
    [{ LLM_DAILY_TOKEN_LIMIT: '0' }, 'LLM_DAILY_TOKEN_LIMIT'],
    [{ LLM_MAX_CONCURRENT_PER_USER: 'two' }, 'LLM_MAX_CONCURRENT_PER_USER'],
    [{ LLM_MODELS: 'a,,b' }, 'LLM_MODELS'],
    [{ LLM_MAX_TOKENS: '0' }, 'LLM_MAX_TOKENS'],
    [{ LLM_MAX_TOKENS: '1000001' }, 'LLM_MAX_TOKENS'],
    [{ LLM_REPLY_MAX_CHARS: '999' }, 'LLM_REPLY_MAX_CHARS'],
    [{ LLM_REPLY_MAX_CHARS: '16000001' }, 'LLM_REPLY_MAX_CHARS'],
    [{ EVENT_STREAMS_PER_USER: '0' }, 'EVENT_STREAMS_PER_USER'],
    [{ EVENT_STREAMS_PER_SESSION: 'ten' }, 'EVENT_STREAMS_PER_SESSION'],
    [{ EVENT_STREAM_QUEUE_BYTES: '1000' }, 'EVENT_STREAM_QUEUE_BYTES'],
    [{ EVENT_STREAM_STALL_MS: '10' }, 'EVENT_STREAM_STALL_MS'],
    [{ HTTP_REQUEST_TIMEOUT_MS: '0' }, 'HTTP_REQUEST_TIMEOUT_MS'],
    [{ HTTP_HEADERS_TIMEOUT_MS: 'soon' }, 'HTTP_HEADERS_TIMEOUT_MS'],
    [
      { HTTP_REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '6000' },
      'HTTP_HEADERS_TIMEOUT_MS',
    ],
    [{ HTTP_KEEP_ALIVE_TIMEOUT_MS: '500' }, 'HTTP_KEEP_ALIVE_TIMEOUT_MS'],
    [{ HTTP_MAX_CONNECTIONS: '0' }, 'HTTP_MAX_CONNECTIONS'],
    [{ PUBLIC_URL: 'chat.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'ftp://chat.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://exa mple.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://[::1' }, 'PUBLIC_URL'],
  ])('rejects %j with one line naming %s', (raw, variable) => {
    let message = '';
    try {
      validateEnv(raw);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain(variable);
    expect(message).not.toContain('\n');
  });

  it('accepts a production environment with a long secret', () => {
    expect(validateEnv({ NODE_ENV: 'production', JWT_SECRET: SECRET }).JWT_SECRET).toBe(SECRET);
  });
});

describe('buildConfig', () => {
  const base = { DATABASE_URL: 'postgres://u@localhost/db', JWT_SECRET: SECRET };

  it('allows any CORS origin in development and none in production', () => {
    expect(buildConfig(base).app.corsOrigins).toBe(true);
    expect(buildConfig({ ...base, NODE_ENV: 'production' }).app.corsOrigins).toBe(false);
  });

  it('splits CORS_ORIGINS into a list', () => {
    expect(
      buildConfig({ ...base, CORS_ORIGINS: 'https://a.example, https://b.example/' }).app
        .corsOrigins,
    ).toEqual(['https://a.example', 'https://b.example']);
  });

  it('sets Secure on the refresh cookie in production only, unless COOKIE_SECURE says otherwise', () => {
    expect(buildConfig(base).session.cookieSecure).toBe(false);
    expect(buildConfig({ ...base, NODE_ENV: 'production' }).session.cookieSecure).toBe(true);
    expect(
      buildConfig({ ...base, NODE_ENV: 'production', COOKIE_SECURE: 'false' }).session.cookieSecure,
    ).toBe(false);
    expect(buildConfig({ ...base, COOKIE_SECURE: 'true' }).session.cookieSecure).toBe(true);
  });

  it('trusts the listed CORS origins for the cookie routes, never `*`', () => {
    expect(buildConfig({ ...base, CORS_ORIGINS: '*' }).session.trustedOrigins).toEqual([]);
    expect(buildConfig(base).session.trustedOrigins).toEqual([]);
    expect(
      buildConfig({ ...base, CORS_ORIGINS: 'https://app.example' }).session.trustedOrigins,
    ).toEqual(['https://app.example']);
  });

  it('keeps half of the pool for small statements unless DB_HEAVY_CONNECTIONS says otherwise', () => {
    expect(buildConfig(base).database.heavyConnections).toBe(5);
    expect(buildConfig({ ...base, DB_POOL_SIZE: '1' }).database.heavyConnections).toBe(1);
    expect(buildConfig({ ...base, DB_HEAVY_CONNECTIONS: '3' }).database.heavyConnections).toBe(3);
    expect(() => buildConfig({ ...base, DB_POOL_SIZE: '4', DB_HEAVY_CONNECTIONS: '5' })).toThrow(
      /DB_HEAVY_CONNECTIONS must not exceed DB_POOL_SIZE/,
    );
  });

  it('trusts PUBLIC_URL’s origin, and the Host header’s only without it outside production', () => {
    const session = (env: Record<string, string>) => buildConfig({ ...base, ...env }).session;
    expect(
      session({
        PUBLIC_URL: 'https://Chat.Example.com:443/app/',
        CORS_ORIGINS: 'https://a.example',
      }),
    ).toMatchObject({
      trustedOrigins: ['https://chat.example.com', 'https://a.example'],
      trustHostOrigin: false,
    });
    expect(session({}).trustHostOrigin).toBe(true);
    expect(session({ NODE_ENV: 'production' }).trustHostOrigin).toBe(false);
  });

  it('listens on loopback outside production unless HOST says otherwise', () => {
    expect(buildConfig(base).app.host).toBe('127.0.0.1');
    expect(buildConfig({ ...base, NODE_ENV: 'production' }).app.host).toBe('0.0.0.0');
    expect(buildConfig({ ...base, HOST: '::' }).app.host).toBe('::');
  });

  it('requires a database URL once the runtime is prepared', () => {
    expect(() => buildConfig({ JWT_SECRET: SECRET })).toThrow(/DATABASE_URL/);
  });
});

describe('the llm namespace', () => {
  const base = { DATABASE_URL: 'postgres://x@localhost/db', JWT_SECRET: SECRET };

  it('is off without LLM_BASE_URL, with the documented defaults', () => {
    expect(buildConfig(base).llm).toEqual({
      enabled: false,
      baseUrl: null,
      apiKey: null,
      defaultModel: null,
      models: [],
      contextChars: 48_000,
      idleTimeoutMs: 60_000,
      maxTokens: 4096,
      replyMaxChars: 100_000,
      autoTitle: true,
      maxConcurrentPerUser: 2,
      dailyTokenLimit: null,
    });
  });

  it('lists the default model first, then LLM_MODELS without repeats', () => {
    const llm = buildConfig({
      ...base,
      LLM_BASE_URL: 'http://127.0.0.1:11434/v1',
      LLM_MODEL: 'b',
      LLM_MODELS: 'a, b ,c',
      LLM_AUTO_TITLE: 'FALSE',
      LLM_DAILY_TOKEN_LIMIT: '1000',
      LLM_MAX_TOKENS: '1',
      LLM_REPLY_MAX_CHARS: '1000000',
    }).llm;
    expect(llm).toMatchObject({
      enabled: true,
      defaultModel: 'b',
      models: ['b', 'a', 'c'],
      autoTitle: false,
      dailyTokenLimit: 1000,
      maxTokens: 1,
      replyMaxChars: 1_000_000,
    });
  });
});
