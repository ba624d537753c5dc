/**
 * Hostile probes: what one user, one client or one model can do to the built app
 * (dist/main.js, production settings) with one valid account. Each probe reports the answers it
 * got, how long they took, the app's peak memory while it ran and the slowest `/api/health`
 * meanwhile (what everybody else would have felt).
 *
 *   npm run bench:probes                                   # every probe, at full size
 *   npm run bench:probes -- --probes=amplify,search        # some of them
 *   npm run bench:probes -- --small                        # a tenth of the sizes (a smoke run)
 *   npm run bench:probes -- --entry=/other/checkout/dist/main.js   # another build, to compare
 *
 * Probes: `amplify` (5,000 messages of 32,000 × U+0001 read back through the room list and a
 * room), `streams` (2,000 event streams that never read, on a finished reply of 330 KB),
 * `reply` (a model that streams 1 MB pieces without end, then one endless line), `bodies`
 * (1,500 POSTs whose body stalls), `search` (20 parallel searches of 25 one-letter terms over
 * one user's 160 MB history while another user searches).
 */
import { connect, Socket } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import { FakeModel, startFakeModel } from '../test/helpers/fake-model';
import { createBenchDatabase } from './lib/database';
import { roomsOfLines } from './lib/lines';
import { freePort } from './lib/net';
import { ProcessProbe } from './lib/proc';
import { baseEnv, ServerHandle, startServer } from './lib/servers';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const SCALE = process.argv.includes('--small') ? 0.1 : 1;
const PROBES = arg('probes', 'amplify,streams,reply,bodies,search').split(',');
const ENTRY = arg('entry', join(ROOT, 'dist/main.js'));
const n = (count: number) => Math.max(1, Math.round(count * SCALE));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ctx {
  app: ServerHandle;
  db: Client;
  fake: FakeModel;
  probe: ProcessProbe;
  port: number;
}

async function register(
  ctx: Ctx,
  name: string,
): Promise<{ id: string; auth: Record<string, string> }> {
  const res = await fetch(`${ctx.app.baseUrl}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `${name}-${Date.now()}@example.com`,
      password: 'probe-password-1',
    }),
  });
  const body = (await res.json()) as { user: { id: string }; accessToken: string };
  return {
    id: body.user.id,
    auth: { authorization: `Bearer ${body.accessToken}`, 'content-type': 'application/json' },
  };
}

/** The slowest /api/health answer while `work` runs (polled every 100 ms), and its status. */
async function meanwhile<T>(
  ctx: Ctx,
  work: () => Promise<T>,
): Promise<{ result: T; healthMs: number; peakMb: number; ms: number }> {
  let healthMs = 0;
  let done = false;
  const poll = (async () => {
    while (!done) {
      const at = performance.now();
      await fetch(`${ctx.app.baseUrl}/api/health`)
        .then((r) => r.arrayBuffer())
        .catch(() => undefined);
      healthMs = Math.max(healthMs, performance.now() - at);
      await sleep(100);
    }
  })();
  ctx.probe.beginWindow();
  const at = performance.now();
  const result = await work();
  const ms = performance.now() - at;
  const peakKb = ctx.probe.endWindow();
  done = true;
  await poll;
  return {
    result,
    healthMs: Math.round(healthMs),
    peakMb: Math.round(peakKb / 1024),
    ms: Math.round(ms),
  };
}

const tally = (statuses: (number | string)[]) => {
  const counts = new Map<string, number>();
  for (const s of statuses) counts.set(String(s), (counts.get(String(s)) ?? 0) + 1);
  return [...counts].map(([s, c]) => `${c} × ${s}`).join(', ');
};

function report(probe: string, rows: Record<string, unknown>): void {
  console.log(`\n## ${probe}`);
  for (const [key, value] of Object.entries(rows)) console.log(`- ${key}: ${String(value)}`);
}

async function amplify(ctx: Ctx): Promise<void> {
  const user = await register(ctx, 'amplify');
  const rooms = n(100);
  const perRoom = 50;
  const chr1 = { content: 'repeat(chr(1), 32000)', createdAt: "now() - j * interval '1 ms'" };
  await ctx.db.query(roomsOfLines({ title: "'Room ' || i", ...chr1 }), [rooms, user.id, perRoom]);
  const big = await ctx.db.query<{ id: string }>(roomsOfLines({ title: "'Big'", ...chr1 }), [
    1,
    user.id,
    n(1000),
  ]);
  const get = async (
    path: string,
  ): Promise<{ status: number | string; mb: string; ms: number }> => {
    const at = performance.now();
    const res = await fetch(`${ctx.app.baseUrl}${path}`, { headers: user.auth });
    const bytes = (await res.arrayBuffer()).byteLength;
    return {
      status: res.status,
      mb: (bytes / 2 ** 20).toFixed(1),
      ms: Math.round(performance.now() - at),
    };
  };
  for (const [label, work] of [
    ['include=messages&limit=100', () => get('/api/chat-rooms?include=messages&limit=100')],
    ['include=messages&limit=50', () => get('/api/chat-rooms?include=messages&limit=50')],
    [
      '4 × include=messages&limit=25 in parallel',
      async () => {
        const all = await Promise.all(
          [0, 1, 2, 3].map(() => get('/api/chat-rooms?include=messages&limit=25')),
        );
        return {
          status: tally(all.map((a) => a.status)),
          mb: all.map((a) => a.mb).join('/'),
          ms: Math.max(...all.map((a) => a.ms)),
        };
      },
    ],
    [`a room of ${n(1000)} such messages`, () => get(`/api/chat-rooms/${big.rows[0].id}`)],
  ] as const) {
    const m = await meanwhile(ctx, work);
    report(`amplify: ${label}`, {
      answer: `${m.result.status}, ${m.result.mb} MB in ${m.result.ms} ms`,
      'peak RSS': `${m.peakMb} MB`,
      'slowest health meanwhile': `${m.healthMs} ms`,
    });
  }
}

async function newRoom(ctx: Ctx, user: { auth: Record<string, string> }): Promise<string> {
  const res = await fetch(`${ctx.app.baseUrl}/api/chat-rooms`, {
    method: 'POST',
    headers: user.auth,
    body: '{}',
  });
  return ((await res.json()) as { id: string }).id;
}

/** A generation of `chars` characters, finished. */
async function finishedReply(
  ctx: Ctx,
  user: { auth: Record<string, string> },
  chars: number,
): Promise<string> {
  const room = { id: await newRoom(ctx, user) };
  ctx.fake.enqueue({ tokens: Array.from({ length: chars / 1000 }, () => 'x'.repeat(1000)) });
  const started = (await (
    await fetch(`${ctx.app.baseUrl}/api/chat-rooms/${room.id}/generations`, {
      method: 'POST',
      headers: user.auth,
      body: JSON.stringify({ content: 'write a lot' }),
    })
  ).json()) as { generation: { id: string } };
  for (;;) {
    const g = (await (
      await fetch(`${ctx.app.baseUrl}/api/generations/${started.generation.id}`, {
        headers: user.auth,
      })
    ).json()) as { status: string };
    if (g.status !== 'streaming') return started.generation.id;
    await sleep(100);
  }
}

/** A raw HTTP request whose answer is never read (the socket is paused): its status. */
function unreadStream(
  ctx: Ctx,
  path: string,
  auth: string,
): Promise<{ socket: Socket; status: Promise<string> }> {
  return new Promise((resolveOpen) => {
    const socket = connect(ctx.port, '127.0.0.1');
    let first = '';
    let gotStatus: (s: string) => void;
    const status = new Promise<string>((r) => (gotStatus = r));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\n\r\n`);
      resolveOpen({ socket, status });
    });
    socket.on('data', (chunk: Buffer) => {
      if (first === '') {
        first = chunk.toString('latin1', 0, 12);
        gotStatus(first.slice(9, 12));
        socket.pause(); // never read again
      }
    });
    socket.once('close', () => gotStatus('closed'));
  });
}

async function streams(ctx: Ctx): Promise<void> {
  const user = await register(ctx, 'streams');
  const id = await finishedReply(ctx, user, 330_000);
  const count = n(2000);
  const m = await meanwhile(ctx, async () => {
    const opened = [];
    for (let i = 0; i < count; i++)
      opened.push(
        await unreadStream(ctx, `/api/generations/${id}/events`, user.auth.authorization),
      );
    const statuses = await Promise.all(
      opened.map((o) => Promise.race([o.status, sleep(10_000).then(() => 'none')])),
    );
    await sleep(3000);
    // A paused socket never sees the server's close: the server's own count says what is open.
    const open = await ctx.db
      .query<{ n: number }>('SELECT count(*)::int AS n FROM event_streams WHERE user_id = $1', [
        user.id,
      ])
      .then(
        (r) => String(r.rows[0].n),
        () => 'not counted (no event_streams table)',
      );
    for (const o of opened) o.socket.destroy();
    return { statuses, open };
  });
  report(`streams: ${count} unread replays of a 330 KB reply`, {
    answers: tally(m.result.statuses),
    'streams still open on the server 3 s later': m.result.open,
    'peak RSS': `${m.peakMb} MB`,
    'slowest health meanwhile': `${m.healthMs} ms`,
  });
}

async function reply(ctx: Ctx): Promise<void> {
  const user = await register(ctx, 'reply');
  for (const [label, script] of [
    [
      '1 MB pieces without end',
      { tokens: Array.from({ length: 2000 }, () => 'y'.repeat(2 ** 20)), finishReason: 'stop' },
    ],
    ['one 200 MB line without a newline', { hugeLine: 200 * 2 ** 20 }],
  ] as const) {
    const room = { id: await newRoom(ctx, user) };
    ctx.fake.enqueue(script);
    const m = await meanwhile(ctx, async () => {
      const started = (await (
        await fetch(`${ctx.app.baseUrl}/api/chat-rooms/${room.id}/generations`, {
          method: 'POST',
          headers: user.auth,
          body: JSON.stringify({ content: 'go on forever' }),
        })
      ).json()) as { generation: { id: string } };
      const deadline = Date.now() + 90_000;
      let state = { status: 'streaming', error: null as null | { code: string }, content: '' };
      while (Date.now() < deadline) {
        state = (await (
          await fetch(`${ctx.app.baseUrl}/api/generations/${started.generation.id}`, {
            headers: user.auth,
          })
        ).json()) as typeof state;
        if (state.status !== 'streaming') break;
        await sleep(250);
      }
      const again = await fetch(`${ctx.app.baseUrl}/api/chat-rooms/${room.id}/generations`, {
        method: 'POST',
        headers: user.auth,
        body: JSON.stringify({ content: 'and now?' }),
      });
      await again.arrayBuffer();
      return { state, next: again.status };
    });
    report(`reply: ${label}`, {
      ended: `${m.result.state.status}${m.result.state.error ? `/${m.result.state.error.code}` : ''} after ${m.ms} ms, ${m.result.state.content?.length ?? 0} characters stored`,
      'next start in the room': m.result.next,
      'peak RSS': `${m.peakMb} MB`,
      'slowest health meanwhile': `${m.healthMs} ms`,
    });
  }
}

async function bodies(ctx: Ctx): Promise<void> {
  const user = await register(ctx, 'bodies');
  const count = n(1500);
  const m = await meanwhile(ctx, async () => {
    const sockets: Promise<{ status: string; ms: number }>[] = [];
    for (let i = 0; i < count; i++) {
      sockets.push(
        new Promise((done) => {
          const at = performance.now();
          const socket = connect(ctx.port, '127.0.0.1');
          let status = 'closed';
          socket.on('error', () => undefined);
          socket.once('connect', () =>
            socket.write(
              `POST /api/chat-rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${user.auth.authorization}\r\n` +
                'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"title":',
            ),
          );
          socket.once('data', (chunk: Buffer) => (status = chunk.toString('latin1', 9, 12)));
          socket.once('close', () => done({ status, ms: performance.now() - at }));
          setTimeout(() => {
            if (!socket.destroyed) {
              status = 'still open at 120 s';
              socket.destroy();
            }
          }, 120_000);
        }),
      );
      if (i % 100 === 99) await sleep(10);
    }
    return Promise.all(sockets);
  });
  const ms = m.result.map((r) => r.ms).sort((a, b) => a - b);
  report(`bodies: ${count} POSTs whose body stalls`, {
    answers: tally(m.result.map((r) => r.status)),
    'closed after (median / max)': `${Math.round(ms[ms.length >> 1])} / ${Math.round(ms[ms.length - 1])} ms`,
    'peak RSS': `${m.peakMb} MB`,
    'slowest health meanwhile': `${m.healthMs} ms`,
  });
}

async function search(ctx: Ctx): Promise<void> {
  const heavy = await register(ctx, 'search-heavy');
  const other = await register(ctx, 'search-other');
  // About 160 MB of history: 80,000 messages of 2,000 characters.
  await ctx.db.query(
    roomsOfLines({
      title: "'R' || i",
      content: "repeat(md5(j::text), 62) || ' ' || j",
      createdAt: "now() - j * interval '1 ms'",
    }),
    [n(100), heavy.id, 800],
  );
  const room = { id: await newRoom(ctx, other) };
  await fetch(`${ctx.app.baseUrl}/api/chat-rooms/${room.id}/messages`, {
    method: 'POST',
    headers: other.auth,
    body: JSON.stringify({ content: 'where is the lighthouse' }),
  });
  await ctx.db.query('ANALYZE messages');
  const terms = 'q w y z j k l m n o p r s t u v g h i x b ä ö ü ß'.split(' ').join(' ');
  const m = await meanwhile(ctx, async () => {
    const flood = Array.from({ length: 20 }, async () => {
      const res = await fetch(`${ctx.app.baseUrl}/api/search?q=${encodeURIComponent(terms)}`, {
        headers: heavy.auth,
      });
      await res.arrayBuffer();
      return res.status;
    });
    const others: { status: number; ms: number }[] = [];
    await sleep(50);
    for (let i = 0; i < 10; i++) {
      const at = performance.now();
      const res = await fetch(`${ctx.app.baseUrl}/api/search?q=lighthouse`, {
        headers: other.auth,
      });
      await res.arrayBuffer();
      others.push({ status: res.status, ms: performance.now() - at });
    }
    return { flood: await Promise.all(flood), others };
  });
  const ms = m.result.others.map((o) => o.ms).sort((a, b) => a - b);
  report('search: 20 parallel searches of 25 one-letter terms over 160 MB', {
    "the flooder's answers": tally(m.result.flood),
    "another user's searches meanwhile": tally(m.result.others.map((o) => o.status)),
    "another user's search latency (median / max)": `${Math.round(ms[ms.length >> 1])} / ${Math.round(ms[ms.length - 1])} ms`,
    'peak RSS': `${m.peakMb} MB`,
    'slowest health meanwhile': `${m.healthMs} ms`,
  });
}

const RUN: Record<string, (ctx: Ctx) => Promise<void>> = {
  amplify,
  streams,
  reply,
  bodies,
  search,
};

async function main(): Promise<void> {
  const fake = await startFakeModel();
  const database = await createBenchDatabase(process.env.DATABASE_URL);
  const port = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'bench-probes-'));
  let app: ServerHandle | undefined;
  const db = new Client({ connectionString: database.url });
  try {
    app = await startServer({
      target: 'app',
      entry: ENTRY,
      cwd: ROOT,
      port,
      env: {
        ...baseEnv(),
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        JWT_SECRET: 'probe-secret-that-is-long-enough-0123456789',
        LLM_BASE_URL: fake.url,
        LLM_MODEL: 'probe-model',
        LLM_AUTO_TITLE: 'false',
        LLM_IDLE_TIMEOUT_MS: '30000',
        // A 330 KB reply must be possible for the stream probe.
        LLM_REPLY_MAX_CHARS: '400000',
        AUTH_RATE_LIMIT: '100000',
        LOG_LEVEL: 'warn',
      },
      logFile: join(logDir, 'app.log'),
      startTimeoutMs: 60_000,
    });
    await db.connect();
    const ctx: Ctx = { app, db, fake, probe: new ProcessProbe(app.pid), port };
    console.log(
      `# Probes of ${ENTRY}${SCALE < 1 ? ' (a tenth of the sizes)' : ''}; app log: ${logDir}/app.log`,
    );
    for (const name of PROBES) await RUN[name](ctx);
  } finally {
    await db.end().catch(() => undefined);
    await app?.stop();
    await fake.close();
    await database.dispose(false);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
