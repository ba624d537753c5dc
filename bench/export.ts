/**
 * The export of a large account through the built app (dist/main.js):
 *
 *   npm run bench:export                                  # 5,000 rooms × 50 messages, ~100 MB
 *   npm run bench:export -- --rooms=500 --messages=50     # a smaller account
 *
 * One user's account is seeded with bulk SQL: `--rooms` rooms of `--messages` messages each, one
 * line per room as the API makes them (parent_id, on_active_path, the room's active message),
 * text of 40 to 680 characters mixing ASCII, quotes, backslashes, new lines, Korean and emoji.
 * Then `GET /api/users/me/export` is downloaded `--runs` times by a client that reads as fast as
 * it can and keeps nothing. Per run: time to the first byte of the body, the whole time, MB/s
 * (bytes of the document), the app's CPU, and its peak RSS above its RSS at rest before the
 * download (VmHWM, reset before each run). The document is checked: complete (its last chunk
 * came), every room and message in it. Prints a Markdown table.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBenchDatabase } from './lib/database';
import { pg } from './lib/deps';
import { type Download, download } from './lib/export-download';
import { freePort } from './lib/net';
import { ProcessProbe } from './lib/proc';
import { productionAppEnv, startServer } from './lib/servers';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const ROOMS = Number(arg('rooms', '5000'));
const MESSAGES = Number(arg('messages', '50'));
const RUNS = Number(arg('runs', '3'));
/** Rooms seeded per statement. */
const SEED_BATCH = 250;

/** What message texts are cut from: every kind of character JSON and UTF-8 treat apart. */
const TEXT = Array.from(
  { length: 40 },
  (_, i) =>
    `Line ${i}: the quick brown fox said "hello" to C:\\temp\\fox; 서울에서 만나요 😀 — ` +
    `ça va? Les "guillemets" et l'apostrophe.\n`,
).join('');

async function seed(url: string, ownerId: string): Promise<{ contentBytes: number }> {
  const client = new pg.Client({ connectionString: url, application_name: 'bench-seed' });
  await client.connect();
  try {
    for (let from = 0; from < ROOMS; from += SEED_BATCH) {
      const count = Math.min(SEED_BATCH, ROOMS - from);
      const { rows } = await client.query<{ id: string; created_at: string }>(
        `INSERT INTO chat_rooms (owner_id, title, created_at, updated_at, message_count)
         SELECT $1, 'Conversation ' || i, t, t, $4
         FROM generate_series($2::int, $3::int) i,
              LATERAL (SELECT timestamptz '2025-01-01' + i * interval '1 hour' AS t) at
         RETURNING id, created_at::text`,
        [ownerId, from + 1, from + count, MESSAGES],
      );
      // One line per room: each message's parent is the one before it, all on the active path.
      await client.query(
        `INSERT INTO messages (id, chat_room_id, owner_id, role, content, created_at, parent_id, on_active_path)
         SELECT id, room_id, $3, role, content, created_at,
                lag(id) OVER (PARTITION BY room_id ORDER BY n), true
         FROM (
           SELECT gen_random_uuid() AS id, r.room_id, n,
                  CASE WHEN n % 2 = 1 THEN 'user' ELSE 'assistant' END AS role,
                  substr($5, 1 + (n * 31 + r.ord::int * 17) % 2000,
                         40 + (n * 7919 + r.ord::int * 104729) % 641) AS content,
                  r.created_at + n * interval '1 second' AS created_at
           FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS r(room_id, created_at, ord),
                generate_series(1, $4::int) AS n
         ) m`,
        [rows.map((r) => r.id), rows.map((r) => r.created_at), ownerId, MESSAGES, TEXT],
      );
      await client.query(
        `UPDATE chat_rooms r SET active_message_id = last.id, updated_at = last.created_at
         FROM (
           SELECT DISTINCT ON (chat_room_id) chat_room_id, id, created_at FROM messages
           WHERE chat_room_id = ANY($1::uuid[]) ORDER BY chat_room_id, created_at DESC, id DESC
         ) last
         WHERE r.id = last.chat_room_id`,
        [rows.map((r) => r.id)],
      );
    }
    await client.query('VACUUM ANALYZE chat_rooms, messages');
    const { rows } = await client.query<{ bytes: string }>(
      'SELECT sum(octet_length(content))::bigint AS bytes FROM messages WHERE owner_id = $1',
      [ownerId],
    );
    return { contentBytes: Number(rows[0].bytes) };
  } finally {
    await client.end();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
const fixed = (n: number, digits = 1) => n.toFixed(digits);

async function main(): Promise<void> {
  const db = await createBenchDatabase(process.env.DATABASE_URL);
  const port = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'bench-export-'));
  const app = await startServer({
    target: 'app',
    entry: join(ROOT, 'dist/main.js'),
    cwd: ROOT,
    port,
    env: {
      ...productionAppEnv(db.url),
    },
    logFile: join(logDir, 'app.log'),
    startTimeoutMs: 60_000,
  }).catch(async (error: unknown) => {
    await db.dispose(false);
    throw error;
  });
  const probe = new ProcessProbe(app.pid);
  const rows: string[] = [];
  try {
    const register = await fetch(`${app.baseUrl}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench-export@example.com', password: 'bench-password-1' }),
    });
    const { accessToken, user } = (await register.json()) as {
      accessToken: string;
      user: { id: string };
    };
    const seedStart = performance.now();
    const { contentBytes } = await seed(db.url, user.id);
    process.stdout.write(
      `seeded ${ROOMS} rooms × ${MESSAGES} messages, ${fixed(contentBytes / 1e6)} MB of text, ` +
        `in ${fixed((performance.now() - seedStart) / 1000)} s\n`,
    );

    // Warm-up (not measured): one room, so that the routes and the pool are ready.
    const { rows: first } = await (async () => {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      try {
        return await client.query<{ id: string }>(
          'SELECT id FROM chat_rooms WHERE owner_id = $1 LIMIT 1',
          [user.id],
        );
      } finally {
        await client.end();
      }
    })();
    await download(app.baseUrl, `/api/chat-rooms/${first[0].id}/export`, accessToken);

    const results: (Download & { cpuS: number; idleMb: number; peakAboveIdleMb: number })[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await new Promise((r) => setTimeout(r, 1000));
      const idleKb = probe.memory().rssKb;
      const cpuBefore = probe.cpuSeconds();
      probe.beginWindow();
      const result = await download(app.baseUrl, '/api/users/me/export', accessToken);
      const peakKb = probe.endWindow();
      const cpuS = probe.cpuSeconds() - cpuBefore;
      if (result.status !== 200 || !result.complete) {
        throw new Error(`run ${run}: status ${result.status}, complete ${result.complete}`);
      }
      if (result.rooms !== ROOMS || result.messages !== ROOMS * MESSAGES) {
        throw new Error(`run ${run}: ${result.rooms} rooms, ${result.messages} messages`);
      }
      const row = {
        ...result,
        cpuS,
        idleMb: idleKb / 1024,
        peakAboveIdleMb: (peakKb - idleKb) / 1024,
      };
      results.push(row);
      rows.push(
        `| ${run} | ${fixed(row.bytes / 1e6)} | ${fixed(row.firstByteMs)} | ${fixed(row.totalMs / 1000, 2)} | ` +
          `${fixed(row.bytes / 1e6 / (row.totalMs / 1000))} | ${fixed(row.cpuS, 2)} | ` +
          `${fixed(row.idleMb)} | ${fixed(row.peakAboveIdleMb)} |`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
    }
    const m = (pick: (r: (typeof results)[number]) => number) => median(results.map(pick));
    rows.push(
      `| median | ${fixed(m((r) => r.bytes) / 1e6)} | ${fixed(m((r) => r.firstByteMs))} | ` +
        `${fixed(m((r) => r.totalMs) / 1000, 2)} | ${fixed(m((r) => r.bytes / 1e6 / (r.totalMs / 1000)))} | ` +
        `${fixed(
          m((r) => r.cpuS),
          2,
        )} | ${fixed(m((r) => r.idleMb))} | ${fixed(m((r) => r.peakAboveIdleMb))} |`,
    );
  } finally {
    await app.stop();
    await db.dispose(false);
  }
  process.stdout.write(
    [
      '',
      `GET /api/users/me/export of ${ROOMS} rooms × ${MESSAGES} messages (PostgreSQL ${db.serverVersion}${db.embedded ? ', embedded' : ''})`,
      '',
      '| run | document MB | first byte ms | total s | MB/s | app CPU s | app RSS at rest MB | app peak RSS above rest MB |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
