import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { adminQuery, adminUrl, withDatabase } from '../helpers/database';
import { startTestApp } from '../helpers/app';
import { LogCapture } from '../helpers/leaks';

const WARNING = /LC_CTYPE "C".*C\.UTF-8/s;

describe('the database locale and search (e2e)', () => {
  // These tests start apps of their own (migrations included): more than the default 5 s on a
  // busy machine.
  jest.setTimeout(60_000);

  it('the embedded cluster is made with a UTF-8 locale: Hangul, kana and CJK have trigrams', async () => {
    // The suite's own cluster is made by startEmbeddedPostgres; a DATABASE_URL server is not ours.
    if (process.env.DATABASE_URL) return;
    const client = new Client({ connectionString: adminUrl() });
    await client.connect();
    try {
      const { rows } = await client.query<{ ctype: string; encoding: string }>(
        `SELECT datctype AS ctype, pg_encoding_to_char(encoding) AS encoding
         FROM pg_database WHERE datname = current_database()`,
      );
      expect(rows[0].encoding).toBe('UTF8');
      expect(rows[0].ctype).toMatch(/\.utf-?8$/i);
    } finally {
      await client.end();
    }
  });

  it('says nothing at start-up when the locale is right', async () => {
    const logs = new LogCapture();
    const t = await startTestApp({}, { logStream: logs.stream });
    await t.close();
    expect(logs.text).not.toMatch(/LC_CTYPE/);
  });

  it('warns at start-up, naming the fix, on a database whose LC_CTYPE is C; search still works', async () => {
    const name = `chat_e2e_c_${randomBytes(6).toString('hex')}`;
    await adminQuery(
      `CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`,
    );
    const logs = new LogCapture();
    const t = await startTestApp(
      {},
      { logStream: logs.stream, databaseUrl: withDatabase(adminUrl(), name) },
    );
    try {
      const warnings = logs.lines
        .map((line) => JSON.parse(line) as { level: number; context?: string; msg: string })
        .filter((line) => WARNING.test(line.msg));
      expect(warnings).toEqual([expect.objectContaining({ level: 40, context: 'Search' })]);

      // Slower (no trigrams for Hangul) but still correct: the caller's messages are scanned.
      const res = await t.http
        .post('/api/auth/register')
        .send({ email: `${name}@example.com`, password: 'correct horse battery' })
        .expect(201);
      const auth = { Authorization: `Bearer ${res.body.accessToken as string}` };
      const room = await t.http.post('/api/chat-rooms').set(auth).send({}).expect(201);
      await t.http
        .post(`/api/chat-rooms/${room.body.id as string}/messages`)
        .set(auth)
        .send({ content: '서울에서 만나요' })
        .expect(201);
      const found = await t.http.get('/api/search?q=서울에서').set(auth).expect(200);
      expect(found.body.items).toHaveLength(1);
    } finally {
      await t.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});
