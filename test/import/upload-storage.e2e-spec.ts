import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'pg';
import { CHUNK_BYTES } from '../../src/import/stored-upload';
import { registerUser, type RegisteredUser } from '../factories/users';
import { startTestApp, type TestApp } from '../helpers/app';
import { chatGptFixture } from '../helpers/chatgpt-fixtures';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import { zipBytes } from '../helpers/zip-writer';

jest.setTimeout(120_000);

// How the upload is kept: rows of CHUNK_BYTES read back by range, across row boundaries, for
// JSON (one range) and a ZIP (its end first, then each entry), and what a refused body leaves.

const MAX_BYTES = 6 * CHUNK_BYTES;
let t: TestApp;
let base: string;

beforeAll(async () => {
  t = await startTestApp({ IMPORT_POLL_MS: '100', IMPORT_MAX_BYTES: String(MAX_BYTES) });
  await t.app.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
});
afterAll(() => t?.close());

/** `count` distinct copies of the plain fixture, each padded with a long user message. */
function conversations(count: number, padding: number): object[] {
  return Array.from({ length: count }, (_, i) => {
    const c = chatGptFixture('plain');
    c.conversation_id = `padded-${i}`;
    c.id = c.conversation_id;
    c.title = `Padded ${i}`;
    const first = Object.values(
      c.mapping as Record<
        string,
        { message?: { author?: { role?: string }; content?: { parts?: string[] } } }
      >,
    ).find((node) => node.message?.author?.role === 'user');
    first!.message!.content!.parts = [`${i} `.padEnd(padding, 'x')];
    return c;
  });
}

async function finished(user: RegisteredUser, location: string) {
  return eventually(
    async () => {
      const res = await t.http.get(location).set(user.auth).expect(200);
      return ['complete', 'failed'].includes(res.body.status) && res.body;
    },
    { timeoutMs: 60_000, message: 'the import finished' },
  );
}

async function chunkRows(): Promise<number> {
  const { rows } = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM import_chunks');
  return rows[0].n;
}

/** POSTs `body` in pieces with chunked encoding (no Content-Length): the size is learnt as it streams. */
function postChunked(
  user: RegisteredUser,
  type: string,
  body: Buffer,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${base}/api/imports`,
      {
        method: 'POST',
        headers: { ...user.auth, 'content-type': type, 'transfer-encoding': 'chunked' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (piece: string) => (text += piece));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    // The server may answer and close before the whole body is sent.
    req.on('error', (error) =>
      error.message.includes('EPIPE') || error.message.includes('ECONNRESET')
        ? undefined
        : reject(error),
    );
    for (let at = 0; at < body.length; at += 256 * 1024)
      req.write(body.subarray(at, at + 256 * 1024));
    req.end();
  });
}

it('reads a JSON file stored across several rows, whole, then deletes the rows', async () => {
  const user = await registerUser(t.http);
  const big = Buffer.from(JSON.stringify(conversations(80, 32_000)));
  expect(big.length).toBeGreaterThan(2 * CHUNK_BYTES);

  const res = await t.http
    .post('/api/imports')
    .set(user.auth)
    .set('content-type', 'application/json')
    .send(big.toString('utf8'))
    .expect(202);
  const done = await finished(user, res.headers.location);
  expect(done.status).toBe('complete');
  expect(done.conversations).toEqual({ total: 80, imported: 80, skipped: 0, failed: 0 });
  // Every conversation's padded message came back whole: its text is what the file held.
  const { rows } = await t.db.query<{ content: string }>(
    `SELECT m.content FROM messages m JOIN chat_rooms r ON r.id = m.chat_room_id
     WHERE r.owner_id = $1 AND m.role = 'user' AND length(m.content) = 32000`,
    [user.id],
  );
  expect(rows.map((r) => Number(r.content.split(' ')[0])).sort((a, b) => a - b)).toEqual(
    Array.from({ length: 80 }, (_, i) => i),
  );
  expect(await chunkRows()).toBe(0);
});

it('reads a ZIP whose entries straddle row boundaries (stored, not deflated)', async () => {
  const user = await registerUser(t.http);
  const parts = [0, 1, 2].map((shard) =>
    Buffer.from(
      JSON.stringify(
        conversations(30, 32_000).map((c, i) => ({
          ...c,
          conversation_id: `shard-${shard}-${i}`,
          id: `shard-${shard}-${i}`,
        })),
      ),
    ),
  );
  const zip = zipBytes([
    { name: 'user.json', data: '{}', method: 'store' },
    ...parts.map((data, shard) => ({
      name: `conversations-00${shard}.json`,
      data,
      method: 'store' as const,
    })),
  ]);
  expect(zip.length).toBeGreaterThan(2 * CHUNK_BYTES);
  const res = await t.http
    .post('/api/imports')
    .set(user.auth)
    .set('content-type', 'application/zip')
    .send(zip)
    .expect(202);
  expect(res.body.format).toBe('chatgpt-zip');
  const done = await finished(user, res.headers.location);
  expect(done.conversations).toEqual({ total: 90, imported: 90, skipped: 0, failed: 0 });
  expect(done.items.map((item: { sourceId: string }) => item.sourceId)).toEqual(
    [0, 1, 2].flatMap((shard) => Array.from({ length: 30 }, (_, i) => `shard-${shard}-${i}`)),
  );
});

it('refuses a body over IMPORT_MAX_BYTES while it streams, and keeps none of it', async () => {
  const user = await registerUser(t.http);
  const before = await chunkRows();
  const answer = await postChunked(
    user,
    'application/json',
    Buffer.alloc(MAX_BYTES + CHUNK_BYTES, 0x20),
  );
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.text).message).toMatch(/larger than 6 MiB/);
  await eventually(async () => (await chunkRows()) === before);
  const { rows } = await t.db.query('SELECT status FROM imports WHERE owner_id = $1', [user.id]);
  expect(rows).toEqual([]);
  // And the user is free to import: nothing of the refused upload is left going.
  const ok = await t.http
    .post('/api/imports')
    .set(user.auth)
    .set('content-type', 'application/json')
    .send(JSON.stringify(conversations(1, 10)))
    .expect(202);
  expect((await finished(user, ok.headers.location)).status).toBe('complete');
});

it('refuses a declared Content-Length over the bound before reading the body', async () => {
  const user = await registerUser(t.http);
  const answer = await new Promise<number>((resolve, reject) => {
    const req = httpRequest(
      `${base}/api/imports`,
      {
        method: 'POST',
        headers: {
          ...user.auth,
          'content-type': 'application/zip',
          'content-length': String(MAX_BYTES + 1),
        },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.write(Buffer.alloc(1024));
    // The rest never comes: the answer must not wait for it.
  });
  expect(answer).toBe(413);
  const { rows } = await t.db.query('SELECT id FROM imports WHERE owner_id = $1', [user.id]);
  expect(rows).toEqual([]);
});

describe('an instance that shuts down in the middle of an import', () => {
  it('queues it again after the conversation in hand, and another instance finishes it', async () => {
    const database = await createTestDatabase();
    const env = { IMPORT_POLL_MS: '100' };
    let first: TestApp | undefined = await startTestApp(env, { databaseUrl: database.url });
    let second: TestApp | undefined;
    try {
      const user = await registerUser(first.http);
      const file = JSON.stringify(conversations(1500, 10));
      const res = await first.http
        .post('/api/imports')
        .set(user.auth)
        .set('content-type', 'application/json')
        .send(file)
        .expect(202);
      const importId = res.body.id as string;
      await eventually(async () => {
        const { rows } = await first!.db.query<{ next_index: number }>(
          'SELECT next_index FROM imports WHERE id = $1',
          [importId],
        );
        return rows[0].next_index > 0;
      });
      await first.db.end();
      await first.app.close();
      first = undefined;

      const stopped = await (async () => {
        const db = new Client({ connectionString: database.url });
        await db.connect();
        try {
          const { rows } = await db.query<{
            status: string;
            runner_key: number | null;
            next_index: number;
          }>('SELECT status, runner_key, next_index FROM imports WHERE id = $1', [importId]);
          return rows[0];
        } finally {
          await db.end();
        }
      })();
      expect(stopped).toMatchObject({ status: 'queued', runner_key: null });
      expect(stopped.next_index).toBeGreaterThan(0);
      expect(stopped.next_index).toBeLessThan(1500);

      second = await startTestApp(env, { databaseUrl: database.url });
      const done = await eventually(
        async () => {
          const r = await second!.http.get(`/api/imports/${importId}`).set(user.auth).expect(200);
          return r.body.status === 'complete' && r.body;
        },
        { timeoutMs: 90_000, message: 'the import finished on the second instance' },
      );
      expect(done.conversations).toEqual({ total: 1500, imported: 1500, skipped: 0, failed: 0 });
      const { rows } = await second.db.query<{ rooms: number; sources: number }>(
        `SELECT count(*)::int AS rooms, count(DISTINCT import_source)::int AS sources
         FROM chat_rooms WHERE owner_id = $1`,
        [user.id],
      );
      expect(rows[0]).toEqual({ rooms: 1500, sources: 1500 });
    } finally {
      await first?.db.end().catch(() => undefined);
      await first?.app.close();
      await second?.close();
      await database.drop();
    }
  });
});
