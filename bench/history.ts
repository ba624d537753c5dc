/**
 * `npm run bench:history`: does listing rooms cost the same whether each room holds 10 or
 * 10,000 messages? Two users with 20 rooms each, one with 10 messages per room and one with
 * 10,000, the app's list route with and without include=messages, and the plans PostgreSQL
 * chose (EXPLAIN ANALYZE): index scans, rows and buffers touched must not grow with history.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SQL as ROOMS } from '../src/chat/chat-rooms.repository';
import { ANSWER_CONTENT_BYTES, LIST_MESSAGES_PER_ROOM } from '../src/chat/chat-rooms.service';
import { SQL as MESSAGES } from '../src/chat/messages.repository';
import { valuesOf } from '../src/database/statement';
import { createBenchDatabase } from './lib/database';
import { pg } from './lib/deps';
import { freePort } from './lib/net';
import { formatMarkdown } from './lib/report';
import { sessionIdOf } from '../test/factories/users';

const ROOT = resolve(__dirname, '..');
const SIZES = [10, 10_000];
const DURATION = Number(process.env.BENCH_DURATION ?? 5);

interface Row {
  size: number;
  route: string;
  rps: number;
  p50: number;
  p99: number;
  planMs: number;
  buffers: number;
  indexOnly: boolean;
}

async function main(): Promise<void> {
  const db = await createBenchDatabase(process.env.DATABASE_URL);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const app = spawn(process.execPath, [join(ROOT, 'dist/main.js')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATABASE_URL: db.url,
      PORT: String(port),
      HOST: '127.0.0.1',
      JWT_SECRET: randomBytes(32).toString('hex'),
      AUTH_RATE_LIMIT: '1000',
      LOG_LEVEL: 'warn',
    },
    stdio: 'inherit',
  });
  const client = new pg.Client({ connectionString: db.url });
  try {
    for (let i = 0; ; i++) {
      const ok = await fetch(`${base}/api/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (i > 150) throw new Error('the app did not start');
      await sleep(200);
    }
    await client.connect();
    // Both users first, so both are measured on the same tables and statistics.
    const users: { size: number; id: string; token: string }[] = [];
    for (const size of SIZES) {
      const res = await fetch(`${base}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `history-${size}@example.com`,
          password: 'history-password',
        }),
      });
      const { accessToken, user } = (await res.json()) as {
        accessToken: string;
        user: { id: string };
      };
      await client.query(
        `WITH rooms AS (
           INSERT INTO chat_rooms (title, owner_id, message_count, updated_at)
           SELECT 'room ' || i, $1, $2, now() - i * interval '1 minute' FROM generate_series(1, 20) i
           RETURNING id)
         INSERT INTO messages (chat_room_id, role, content, created_at)
         SELECT rooms.id, 'user', repeat('history ', 10 + n % 50), now() - interval '1 day' + n * interval '1 ms'
         FROM rooms, generate_series(1, $2::int) n`,
        [user.id, size],
      );
      users.push({ size, id: user.id, token: accessToken });
    }
    await client.query('VACUUM ANALYZE chat_rooms, messages');

    const rows: Row[] = [];
    for (const query of ['limit=20', 'limit=20&include=messages']) {
      for (const { size, id, token } of users) {
        const url = `${base}/api/chat-rooms?${query}`;
        load(token, url, 2); // warm-up
        const result = load(token, url, DURATION);
        const plan = await explain(client, id, token, query.includes('messages'));
        rows.push({
          size,
          route: `GET /api/chat-rooms?${query}`,
          rps: result.requests.average,
          p50: result.latency.p50,
          p99: result.latency.p99,
          ...plan,
        });
      }
    }
    await report(rows);
  } finally {
    await client.end().catch(() => undefined);
    app.kill('SIGTERM');
    await new Promise((done) => app.once('exit', done));
    await db.dispose(false);
  }
}

/** autocannon in its own process; throws on any non-2xx answer. */
function load(token: string, url: string, seconds: number) {
  const out = spawnSync(
    join(ROOT, 'node_modules/.bin/autocannon'),
    ['-j', '-c', '32', '-d', String(seconds), '-H', `Authorization=Bearer ${token}`, url],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(out.stdout) as {
    requests: { average: number };
    latency: { p50: number; p99: number };
    non2xx: number;
  };
  if (result.non2xx > 0) throw new Error(`${result.non2xx} non-2xx answers from ${url}`);
  return result;
}

/** The app's own list statements (the same text), planned and run by PostgreSQL for this user. */
async function explain(
  client: InstanceType<typeof pg.Client>,
  ownerId: string,
  token: string,
  withMessages: boolean,
) {
  const page = { ownerId, sessionId: sessionIdOf(token), limit: 20, offset: 0 };
  const steps: [string, unknown[]][] = [[ROOMS.list.text, valuesOf(ROOMS.list, page)]];
  if (withMessages) {
    const { rows } = await client.query<{ id: string }>(
      'SELECT id FROM chat_rooms WHERE owner_id = $1 ORDER BY updated_at DESC, id DESC LIMIT 20',
      [ownerId],
    );
    const params = {
      roomIds: rows.map((r) => r.id),
      perRoom: LIST_MESSAGES_PER_ROOM,
      budget: ANSWER_CONTENT_BYTES,
    };
    steps.push([MESSAGES.newestOfRooms.text, valuesOf(MESSAGES.newestOfRooms, params)]);
  }
  let planMs = 0;
  let buffers = 0;
  let indexOnly = true;
  for (const [sql, params] of steps) {
    const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${sql}`,
      params,
    );
    const [top] = rows[0]['QUERY PLAN'] as { Plan: PlanNode; 'Execution Time': number }[];
    planMs += top['Execution Time'];
    buffers += (top.Plan['Shared Hit Blocks'] ?? 0) + (top.Plan['Shared Read Blocks'] ?? 0);
    indexOnly &&= !scans(top.Plan).some(
      (node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] === 'messages',
    );
  }
  return { planMs, buffers, indexOnly };
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}
const scans = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(scans)];

async function report(rows: Row[]): Promise<void> {
  const lines = [
    '# Listing cost against history size',
    '',
    `Generated by \`bench/history.ts\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC: 20 rooms of ${SIZES.join(' vs ')} messages, 32 connections, ${DURATION} s each.`,
    '',
    '| messages per room | route | req/s | p50 ms | p99 ms | SQL execution ms | buffers touched | no seq scan of messages |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | :---: |',
    ...rows.map(
      (r) =>
        `| ${r.size.toLocaleString('en')} | \`${r.route}\` | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${r.planMs.toFixed(2)} | ${r.buffers} | ${r.indexOnly ? 'yes' : 'NO'} |`,
    ),
    '',
    'Without `include=messages` the work is the same for both users (20 rooms, their counters and',
    'last messages), so the cost must be too. With it the answer itself differs: 10 messages per',
    'room against the newest 50 (the cap), five times the bytes.',
    '',
  ];
  const file = join(__dirname, 'results', 'history.md');
  const text = await formatMarkdown(lines.join('\n'), file);
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(file, text);
  process.stdout.write(text);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `bench:history failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(1);
});
