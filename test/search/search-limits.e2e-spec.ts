import type { Client } from 'pg';
import { createRoom, postMessage, seedRooms } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { eventually } from '../helpers/eventually';
import { SEARCH_LOCK_CLASS } from '../../src/search/search.repository';

/** Takes `places` of the user's search places on the test's own connection (as another instance would). */
async function holdPlaces(
  db: Client,
  userId: string,
  places: number[],
): Promise<() => Promise<void>> {
  await db.query('BEGIN');
  for (const place of places) {
    await db.query(`SELECT pg_advisory_xact_lock($1, hashtext($2::text || '/' || $3::int))`, [
      SEARCH_LOCK_CLASS,
      userId,
      place,
    ]);
  }
  return async () => {
    await db.query('COMMIT');
  };
}

describe('search limits (e2e)', () => {
  describe('searches per user', () => {
    let t: TestApp;
    let alice: RegisteredUser;
    let bob: RegisteredUser;

    beforeAll(async () => {
      t = await startTestApp({ SEARCH_MAX_CONCURRENT_PER_USER: '2' });
      alice = await registerUser(t.http);
      bob = await registerUser(t.http);
      for (const user of [alice, bob]) {
        const room = await createRoom(t.http, user);
        await postMessage(t.http, user, room.id, 'the lighthouse keeper');
      }
    });
    afterAll(() => t.close());

    it('is 429 with Retry-After once every place is taken, wherever the others run', async () => {
      const release = await holdPlaces(t.db, alice.id, [1, 2]);
      try {
        const refused = await t.http.get('/api/search?q=lighthouse').set(alice.auth).expect(429);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        expect(refused.body.message).toMatch(/2 searches/);
        // Another user is not counted with her.
        const other = await t.http.get('/api/search?q=lighthouse').set(bob.auth).expect(200);
        expect(other.body.items).toHaveLength(1);
      } finally {
        await release();
      }
      const again = await t.http.get('/api/search?q=lighthouse').set(alice.auth).expect(200);
      expect(again.body.items).toHaveLength(1);
    });

    it('takes a free place when only some are taken', async () => {
      const release = await holdPlaces(t.db, alice.id, [1]);
      try {
        const res = await t.http.get('/api/search?q=keeper').set(alice.auth).expect(200);
        expect(res.body.items).toHaveLength(1);
      } finally {
        await release();
      }
    });
  });

  describe('a flood of one user', () => {
    let t: TestApp;
    let flooder: RegisteredUser;
    let bystander: RegisteredUser;
    let bystanderRoom: string;

    beforeAll(async () => {
      // A small pool shared by everything (no pipelined connections), and a short wait for it:
      // without a share kept for small statements, the bystander's would time out (503).
      t = await startTestApp({
        DB_POOL_SIZE: '4',
        DB_HEAVY_CONNECTIONS: '2',
        DB_PIPELINE_CONNECTIONS: '0',
        DB_CONNECT_TIMEOUT_MS: '200',
        SEARCH_MAX_CONCURRENT_PER_USER: '20',
      });
      flooder = await registerUser(t.http);
      bystander = await registerUser(t.http);
      // A history whose one-letter searches read every message of it (each search holds its
      // connection for about half a second).
      await seedRooms(t.db, flooder.id, 100, 2000);
      await t.db.query('ANALYZE messages');
      bystanderRoom = (await createRoom(t.http, bystander)).id;
      await postMessage(t.http, bystander, bystanderRoom, 'a quiet question');
    }, 120_000);
    afterAll(() => t.close());

    it('leaves the pool to everyone else: no 503 for another user while one floods', async () => {
      // Eight clients of the flooder search back to back...
      let flooding = true;
      const flooded: number[] = [];
      const flood = Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; flooding; i++) {
          const q = encodeURIComponent(`q z x w ${worker}${i}`);
          flooded.push((await t.http.get(`/api/search?q=${q}`).set(flooder.auth)).status);
        }
      });
      const served: number[] = [];
      try {
        // ... and are under way: one of their searches holds a search place ...
        await eventually(
          async () => {
            const { rows } = await t.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_locks
               WHERE locktype = 'advisory' AND granted AND classid = $1::bigint::oid
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
              [SEARCH_LOCK_CLASS],
            );
            return rows[0].n > 0;
          },
          { intervalMs: 10, message: 'a search of the flood running' },
        );
        // ... while the bystander reads its room and searches, one request after the other,
        // until the flood has had 48 answers.
        for (let i = 0; i < 4 || flooded.length < 48; i++) {
          served.push(
            (await t.http.get(`/api/chat-rooms/${bystanderRoom}`).set(bystander.auth)).status,
          );
          served.push((await t.http.get('/api/search?q=quiet').set(bystander.auth)).status);
        }
      } finally {
        flooding = false;
        await Promise.all(flood);
      }
      expect(served).toEqual(served.map(() => 200));
      // The flooder waits its turn among its own searches: served or told to come back.
      for (const status of flooded) expect([200, 503]).toContain(status);
      expect(flooded).toContain(200);
    });
  });
});
