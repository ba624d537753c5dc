import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { waitForLockWaiters } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { SQL } from '../../src/idempotency/idempotency-keys.repository';
import { IdempotencyService } from '../../src/idempotency/idempotency.service';

const KEY = 'Idempotency-Key';

describe('Idempotency-Key on POSTs (e2e)', () => {
  let t: TestApp;
  let alice: RegisteredUser;
  let bob: RegisteredUser;

  beforeAll(async () => {
    t = await startTestApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const roomCount = async (user: RegisteredUser) =>
    (
      await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM chat_rooms WHERE owner_id = $1',
        [user.id],
      )
    ).rows[0].n;
  const messageCount = async (roomId: string) =>
    (
      await t.db.query<{ n: number; kept: number }>(
        `SELECT count(*)::int AS n, (SELECT message_count FROM chat_rooms WHERE id = $1) AS kept
         FROM messages WHERE chat_room_id = $1`,
        [roomId],
      )
    ).rows[0];
  const keyRows = async (user: RegisteredUser) =>
    (
      await t.db.query<{ key: string }>('SELECT key FROM idempotency_keys WHERE user_id = $1', [
        user.id,
      ])
    ).rows.map((r) => r.key);

  const createWithKey = (user: RegisteredUser, key: string, body: object) =>
    t.http.post('/api/chat-rooms').set(user.auth).set(KEY, key).send(body);
  const postWithKey = (user: RegisteredUser, roomId: string, key: string, body: object) =>
    t.http.post(`/api/chat-rooms/${roomId}/messages`).set(user.auth).set(KEY, key).send(body);

  describe('retries in sequence', () => {
    it('POST /chat-rooms: the first answer again, byte for byte, and one room', async () => {
      const user = await registerUser(t.http);
      const key = randomUUID();
      const first = await createWithKey(user, key, { title: 'Trip' }).expect(201);
      expect(first.headers['idempotent-replayed']).toBeUndefined();
      for (let i = 0; i < 3; i++) {
        const again = await createWithKey(user, key, { title: 'Trip' }).expect(201);
        expect(again.text).toBe(first.text);
        expect(again.headers['idempotent-replayed']).toBe('true');
        expect(again.headers['content-type']).toBe(first.headers['content-type']);
      }
      expect(await roomCount(user)).toBe(1);
      // Without a key the same body creates another room, as always.
      await t.http.post('/api/chat-rooms').set(user.auth).send({ title: 'Trip' }).expect(201);
      expect(await roomCount(user)).toBe(2);
    });

    it('POST /messages: one message, the same answer; key order and spacing of the JSON do not matter', async () => {
      const room = await createRoom(t.http, alice);
      const key = randomUUID();
      const first = await postWithKey(alice, room.id, key, { content: 'hi', role: 'user' }).expect(
        201,
      );
      const again = await t.http
        .post(`/api/chat-rooms/${room.id}/messages`)
        .set(alice.auth)
        .set(KEY, key)
        .set('content-type', 'application/json')
        .send('{ "role" : "user",\n "content": "hi" }')
        .expect(201);
      expect(again.body).toEqual(first.body);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(await messageCount(room.id)).toEqual({ n: 1, kept: 1 });
    });
  });

  it('20 concurrent requests with one key: one message; every answer is the first or 409', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => postWithKey(alice, room.id, key, { content: 'once' })),
    );
    expect(await messageCount(room.id)).toEqual({ n: 1, kept: 1 });
    const created = answers.filter((a) => a.status === 201);
    expect(created.length).toBeGreaterThanOrEqual(1);
    for (const answer of answers) {
      if (answer.status === 201) {
        expect(answer.text).toBe(created[0].text);
      } else {
        expectErrorBody(answer, 409);
        expect(answer.headers['retry-after']).toBe('1');
      }
    }
    // Once the first is done, a retry always gets its answer.
    const after = await postWithKey(alice, room.id, key, { content: 'once' }).expect(201);
    expect(after.text).toBe(created[0].text);
  });

  it('409 at once, without waiting, while another transaction holds the key; nothing created', async () => {
    const room = await createRoom(t.http, alice);
    const key = randomUUID();
    // Stands in for a first request that is still running on some instance: it holds the key's
    // lock (the one SQL.claim takes) until its transaction ends.
    await t.db.query('BEGIN');
    await t.db.query(
      `SELECT pg_advisory_xact_lock(hashtextextended($1::uuid::text || ' ' || $2::text, 0))`,
      [alice.id, key],
    );
    try {
      const busy = await postWithKey(alice, room.id, key, { content: 'x' });
      expectErrorBody(busy, 409);
      expect(busy.body.message).toMatch(/still being handled/);
    } finally {
      await t.db.query('ROLLBACK');
    }
    expect(await messageCount(room.id)).toEqual({ n: 0, kept: 0 });
    expect(await keyRows(alice)).not.toContain(key);
    await postWithKey(alice, room.id, key, { content: 'x' }).expect(201);
    expect(await messageCount(room.id)).toEqual({ n: 1, kept: 1 });
  });

  describe('the same key for another request is 422 and changes nothing', () => {
    it('a different body', async () => {
      const key = randomUUID();
      await createWithKey(alice, key, { title: 'One' }).expect(201);
      const before = await roomCount(alice);
      const res = await createWithKey(alice, key, { title: 'Two' });
      expectErrorBody(res, 422);
      expect(res.body.message).toMatch(/another request/);
      // A body that validates the same but is not the same JSON is another request too.
      expectErrorBody(await createWithKey(alice, key, {}), 422);
      expect(await roomCount(alice)).toBe(before);
    });

    it('another route, and the same route for another room', async () => {
      const [a, b] = [await createRoom(t.http, alice), await createRoom(t.http, alice)];
      const key = randomUUID();
      await postWithKey(alice, a.id, key, { content: 'same' }).expect(201);
      expectErrorBody(await postWithKey(alice, b.id, key, { content: 'same' }), 422);
      const before = await roomCount(alice);
      expectErrorBody(await createWithKey(alice, key, { title: 'same' }), 422);
      expect(await roomCount(alice)).toBe(before);
      expect(await messageCount(b.id)).toEqual({ n: 0, kept: 0 });
    });
  });

  it('another user with the same key gets a resource of their own', async () => {
    const key = 'shared-key-1';
    const mine = await createWithKey(alice, key, { title: 'Same' }).expect(201);
    const theirs = await createWithKey(bob, key, { title: 'Same' }).expect(201);
    expect(theirs.headers['idempotent-replayed']).toBeUndefined();
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(theirs.body.ownerId).toBe(bob.id);
    // Each one's retry gets their own answer.
    expect((await createWithKey(bob, key, { title: 'Same' }).expect(201)).body.id).toBe(
      theirs.body.id,
    );
    expect((await createWithKey(alice, key, { title: 'Same' }).expect(201)).body.id).toBe(
      mine.body.id,
    );
  });

  it('a request that fails is not remembered: its retry runs again', async () => {
    const key = randomUUID();
    const missing = '00000000-0000-4000-8000-000000000000';
    expectErrorBody(await postWithKey(alice, missing, key, { content: 'x' }), 404);
    expectErrorBody(await postWithKey(alice, missing, key, { content: 'x' }), 404);
    expectErrorBody(await createWithKey(alice, key, { title: 1 }), 400);
    expect(await keyRows(alice)).not.toContain(key);
    await createWithKey(alice, key, { title: 'now valid' }).expect(201);
    expect(await keyRows(alice)).toContain(key);
  });

  describe('an invalid key is 400 and changes nothing', () => {
    let user: RegisteredUser;
    beforeAll(async () => {
      user = await registerUser(t.http);
    });

    it.each([
      ['empty', ''],
      ['256 characters', 'k'.repeat(256)],
      ['a space inside', 'a b'],
      ['a tab inside', 'a\tb'],
      ['a Latin-1 letter', 'clé'],
    ])('%s', async (_name, key) => {
      const res = await createWithKey(user, key, { title: 'no' });
      expectErrorBody(res, 400);
      expect(res.body.message).toMatch(/Idempotency-Key/);
      expect(await roomCount(user)).toBe(0);
      expect(await keyRows(user)).toEqual([]);
    });

    it('255 visible characters, every one of them, are a valid key', async () => {
      const visible = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join('');
      const key = (visible + visible + visible).slice(0, 255);
      await createWithKey(user, key, { title: 'ok' }).expect(201);
      await createWithKey(user, key, { title: 'ok' }).expect(201);
      expect(await roomCount(user)).toBe(1);
      expect(await keyRows(user)).toEqual([key]);
    });

    it('UTF-8, control and DEL bytes, and two Idempotency-Key headers (raw HTTP)', async () => {
      const server = t.app.getHttpServer();
      if (!server.listening) await new Promise<void>((done) => server.listen(0, done));
      const { port } = server.address() as AddressInfo;
      const body = '{"title":"raw"}';
      const raw = (headers: string): Promise<string> =>
        new Promise((done, fail) => {
          const socket = connect(port, '127.0.0.1');
          let answer = '';
          socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
          socket.on('end', () => done(answer));
          socket.on('error', fail);
          socket.end(
            Buffer.concat([
              Buffer.from(
                `POST /api/chat-rooms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n` +
                  `Authorization: ${user.auth.Authorization}\r\nContent-Type: application/json\r\n` +
                  `Content-Length: ${body.length}\r\n`,
                'latin1',
              ),
              Buffer.from(headers, 'latin1'),
              Buffer.from(`\r\n${body}`, 'latin1'),
            ]),
          );
        });
      const utf8 = Buffer.from('ключ-🔑', 'utf8').toString('latin1');
      for (const headers of [
        `${KEY}: ${utf8}\r\n`,
        `${KEY}: a\x7fb\r\n`,
        `${KEY}: one\r\n${KEY}: two\r\n`,
      ]) {
        const answer = await raw(headers);
        expect(answer).toMatch(/^HTTP\/1\.1 400 /);
        expect(answer).toMatch(/"statusCode":400/);
      }
      // A control byte is refused by the HTTP parser itself, still as a 400.
      expect(await raw(`${KEY}: a\x01b\r\n`)).toMatch(/^HTTP\/1\.1 400 /);
      expect(await roomCount(user)).toBe(1);
    });
  });

  it('the key and the room are one transaction: when storing the answer fails, no room is left', async () => {
    const user = await registerUser(t.http);
    // A fault injected after the room's INSERT: storing the answer fails.
    await t.db.query(`
      CREATE FUNCTION fail_answer() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.body::text LIKE '%crash here%' THEN RAISE EXCEPTION 'injected fault'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER fail_answer BEFORE INSERT OR UPDATE ON idempotency_keys
        FOR EACH ROW EXECUTE FUNCTION fail_answer();`);
    try {
      const key = randomUUID();
      // An injected database fault is a 500 the document rightly does not declare: this one
      // request goes around the contract check.
      const res = await request(t.app.getHttpServer())
        .post('/api/chat-rooms')
        .set(user.auth)
        .set(KEY, key)
        .send({ title: 'crash here' });
      expect(res.status).toBe(500);
      expect(await roomCount(user)).toBe(0);
      expect(await keyRows(user)).toEqual([]);
    } finally {
      await t.db.query('DROP TRIGGER fail_answer ON idempotency_keys; DROP FUNCTION fail_answer()');
    }
  });

  it('the first answer is the resource as it reads back, to the millisecond', async () => {
    const user = await registerUser(t.http);
    const made = await createWithKey(user, randomUUID(), { title: 'Shape', model: null }).expect(
      201,
    );
    const read = await t.http.get(`/api/chat-rooms/${made.body.id}`).set(user.auth).expect(200);
    expect(made.body).toEqual(read.body);
    const posted = [];
    for (let i = 0; i < 5; i++) {
      posted.push(
        (await postWithKey(user, made.body.id, randomUUID(), { content: `m${i}` }).expect(201))
          .body,
      );
    }
    const page = await t.http
      .get(`/api/chat-rooms/${made.body.id}/messages?limit=10`)
      .set(user.auth)
      .expect(200);
    expect(page.body.items).toEqual(posted);
  });

  it('a key stored by someone else while the request runs: its answer rules, nothing is created', async () => {
    const user = await registerUser(t.http);
    const key = randomUUID();
    // Holds the room's INSERT on an advisory lock of the test's own until another writer,
    // which takes none of the app's locks, has stored the key.
    const HELD = 42;
    await t.db.query(`
      CREATE FUNCTION slow_room() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.title = 'late' THEN PERFORM pg_advisory_xact_lock(${HELD}, 0); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER slow_room BEFORE INSERT ON chat_rooms
        FOR EACH ROW EXECUTE FUNCTION slow_room();`);
    await t.db.query(`SELECT pg_advisory_lock(${HELD}, 0)`);
    try {
      const pending = createWithKey(user, key, { title: 'late' }).then((r) => r);
      await waitForLockWaiters(t.databaseUrl, 1);
      await t.db.query(
        `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, headers, body, expires_at)
         VALUES ($1, $2, '\\x00', 201, '{}', '{}', now() + interval '1 hour')`,
        [user.id, key],
      );
      await t.db.query(`SELECT pg_advisory_unlock(${HELD}, 0)`);
      expectErrorBody(await pending, 422);
      expect(await roomCount(user)).toBe(0);
    } finally {
      await t.db.query('SELECT pg_advisory_unlock_all()');
      await t.db.query('DROP TRIGGER slow_room ON chat_rooms; DROP FUNCTION slow_room()');
    }
  });

  it('a deleted user’s token with a key is 401, not an error', async () => {
    const gone = await registerUser(t.http);
    await t.http.delete('/api/users/me').set(gone.auth).expect(204);
    expectErrorBody(await createWithKey(gone, randomUUID(), { title: 'x' }), 401);
  });

  it('keys go with their user (ON DELETE CASCADE)', async () => {
    const user = await registerUser(t.http);
    await createWithKey(user, 'cascade', {}).expect(201);
    expect(await keyRows(user)).toEqual(['cascade']);
    await t.http.delete('/api/users/me').set(user.auth).expect(204);
    expect(await keyRows(user)).toEqual([]);
  });

  it('Swagger documents the optional header and the 409 and 422 answers', async () => {
    const doc = (await t.http.get('/api/docs-json').expect(200)).body as {
      paths: Record<string, Record<string, { parameters: object[]; responses: object }>>;
    };
    for (const [path, method] of [
      ['/api/chat-rooms', 'post'],
      ['/api/chat-rooms/{roomId}/messages', 'post'],
    ]) {
      const operation = doc.paths[path][method];
      expect(operation.parameters).toContainEqual(
        expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false }),
      );
      const responses = operation.responses as Record<string, { headers?: object }>;
      expect(Object.keys(responses)).toEqual(expect.arrayContaining(['409', '422']));
      expect(Object.keys(responses['201'].headers ?? {})).toContain('Idempotent-Replayed');
      expect(Object.keys(responses['409'].headers ?? {})).toEqual(['Retry-After']);
    }
    const get = doc.paths['/api/chat-rooms'].get;
    expect(JSON.stringify(get.parameters)).not.toContain('Idempotency-Key');
  });
});

describe('Idempotency-Key expiry (e2e)', () => {
  let t: TestApp;
  let user: RegisteredUser;

  beforeAll(async () => {
    t = await startTestApp({ IDEMPOTENCY_TTL_SECONDS: '1' });
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const create = (key: string, title: string) =>
    t.http.post('/api/chat-rooms').set(user.auth).set(KEY, key).send({ title });
  /** The key's row is past its expiry by PostgreSQL's clock, the one the app compares with. */
  const expired = (key: string) =>
    eventually(
      async () => {
        const { rows } = await t.db.query<{ expired: boolean }>(
          'SELECT expires_at <= now() AS expired FROM idempotency_keys WHERE user_id = $1 AND key = $2',
          [user.id, key],
        );
        return rows[0].expired;
      },
      { message: `key ${key} expired` },
    );

  it('after the TTL the key is free again: a new room, and a different body is no longer 422', async () => {
    const first = await create('expiring', 'A').expect(201);
    expect((await create('expiring', 'A').expect(201)).body.id).toBe(first.body.id);
    await expired('expiring');
    const later = await create('expiring', 'A').expect(201);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    expect(later.body.id).not.toBe(first.body.id);
    // The key now belongs to the new room.
    expect((await create('expiring', 'A').expect(201)).body.id).toBe(later.body.id);
    await expired('expiring');
    await create('expiring', 'B').expect(201);
  });

  it('purgeExpired() deletes expired keys in batches and keeps live ones', async () => {
    user = await registerUser(t.http);
    await t.db.query(
      `INSERT INTO idempotency_keys (user_id, key, fingerprint, status, headers, body, expires_at)
       SELECT $1, 'old-' || i, '\\x00', 201, '{}', '{}', now() - interval '1 minute'
       FROM generate_series(1, 25) AS i`,
      [user.id],
    );
    await create('live', 'L').expect(201);
    const purged = await t.app.get(IdempotencyService).purgeExpired(10);
    // The timer of this app (every TTL, here 1 s) may have taken some first.
    expect(purged).toBeLessThanOrEqual(27);
    const { rows } = await t.db.query<{ key: string }>(
      'SELECT key FROM idempotency_keys WHERE user_id = $1',
      [user.id],
    );
    expect(rows.map((r) => r.key)).toEqual(['live']);
  });

  it('the purge reads expired keys through ix_idempotency_keys_expires, not the whole table', async () => {
    // On a table this small the planner would rather scan it: forbid that to see the path it has.
    await t.db.query('BEGIN');
    try {
      await t.db.query('SET LOCAL enable_seqscan = off');
      const plan = await t.db.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN ${SQL.purge.text.replace('$1', '1000')}`,
      );
      const text = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(text).toMatch(/Index Scan (using|on) ix_idempotency_keys_expires/);
      expect(text).not.toMatch(/Seq Scan/);
    } finally {
      await t.db.query('ROLLBACK');
    }
  });
});
