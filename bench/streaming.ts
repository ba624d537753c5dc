/**
 * The streaming scenario: many concurrent generations against the fake model at a steady token
 * pace, through the built app (dist/main.js), compared with reading the fake model directly.
 *
 *   npm run bench:streaming                    # 200 and 1,000 concurrent streams
 *   npm run bench:streaming -- --levels=50,200 --tokens=40 --pace=50
 *
 * Every token the fake sends carries its send time (µs, this process's clock); each client
 * takes the difference on arrival. The fake and the clients share this process, the app is a
 * child: both sides of the comparison pay the same harness costs. Reports the delay the app
 * adds to the first token and to each token (p50/p99), lost or reordered events, the app's CPU
 * per thousand tokens, its memory per open stream, and SQL statements per generation (through
 * the counting proxy).
 */
import { request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFakeModel } from '../test/helpers/fake-model';
import { createBenchDatabase } from './lib/database';
import { freePort, withUrl } from './lib/net';
import { ProcessProbe } from './lib/proc';
import { productionAppEnv, startServer } from './lib/servers';
import { CountingProxy } from './lib/sql-counter';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const LEVELS = arg('levels', '200,1000').split(',').map(Number);
const TOKENS = Number(arg('tokens', '50'));
const PACE_MS = Number(arg('pace', '100'));
const USERS = Number(arg('users', '100'));
const POOL_SIZE = arg('pool-size', '10');

interface StreamResult {
  status: number;
  firstMs: number;
  tokenMs: number[];
  /**
   * What was wrong with a stream the server accepted (200): events out of order, a reply the
   * app ended as not complete (its `done` says so: not a lost event), missing text, or a
   * final text other than the deltas'; null when nothing was.
   */
  problem: string | null;
}

const now = () => performance.now();

/** One stream: POSTs (or GETs the fake directly), parses SSE, checks order and text. */
function runStream(
  url: string,
  init: { headers: Record<string, string>; body: string },
  direct: boolean,
): Promise<StreamResult> {
  return new Promise((done, fail) => {
    const sentAt = now();
    const req = request(url, { method: 'POST', headers: init.headers }, (res) => {
      let buffer = '';
      let first = -1;
      const tokenMs: number[] = [];
      let lastId = 0;
      let ordered = res.statusCode === 200;
      let text = '';
      let final: string | null = null;
      let ended: string | null = null;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = now();
        buffer += chunk;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!data || data === '[DONE]') continue;
          let piece: string | undefined;
          if (direct) {
            piece = (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] })
              .choices?.[0]?.delta?.content;
          } else {
            const id = Number(/^id: (\d+)$/m.exec(block)?.[1]);
            if (id !== lastId + 1) ordered = false;
            lastId = id;
            const event = /^event: (\w+)$/m.exec(block)?.[1];
            const parsed = JSON.parse(data) as {
              text?: string;
              message?: { content: string };
              generation?: { status: string; error: { code: string } | null };
            };
            if (event === 'delta') piece = parsed.text;
            if (event === 'done') {
              final = parsed.message!.content;
              const { status, error } = parsed.generation!;
              if (status !== 'complete') ended = `ended ${status} (${error?.code ?? 'no error'})`;
            }
          }
          if (!piece) continue;
          text += piece;
          for (const stamp of piece.trim().split(' ')) {
            const delay = at - Number(stamp) / 1000;
            tokenMs.push(delay);
          }
          if (first < 0) first = at - sentAt;
        }
      });
      res.on('end', () => {
        const complete = text.trim().split(' ').length === TOKENS;
        done({
          status: res.statusCode ?? 0,
          firstMs: first,
          tokenMs,
          problem:
            res.statusCode !== 200
              ? null
              : !ordered
                ? 'reordered'
                : ended
                  ? ended
                  : !complete
                    ? 'incomplete'
                    : !direct && final !== text
                      ? 'final text differs'
                      : null,
        });
      });
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end(init.body);
  });
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};
const f = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const fake = await startFakeModel();
  fake.defaultScript = {
    stamp: true,
    tokens: Array.from({ length: TOKENS }, () => ''),
    paceMs: PACE_MS,
  };
  const db = await createBenchDatabase(process.env.DATABASE_URL);
  const target = new URL(db.url);
  const proxy = await CountingProxy.start(target.hostname, Number(target.port));
  const port = await freePort();
  const logDir = mkdtempSync(join(tmpdir(), 'bench-streaming-'));
  const app = await startServer({
    target: 'app',
    entry: join(ROOT, 'dist/main.js'),
    cwd: ROOT,
    port,
    env: {
      ...productionAppEnv(withUrl(db.url, { host: '127.0.0.1', port: proxy.port })),
      LLM_BASE_URL: fake.url,
      LLM_MODEL: 'bench-model',
      LLM_AUTO_TITLE: 'false',
      LLM_MAX_CONCURRENT_PER_USER: '1000',
      DB_POOL_SIZE: POOL_SIZE,
    },
    logFile: join(logDir, 'app.log'),
    startTimeoutMs: 60_000,
  }).catch(async (error: unknown) => {
    // Nothing started may outlive a failed start-up (the embedded cluster above all).
    await proxy.close();
    await fake.close();
    await db.dispose(false);
    throw error;
  });
  const probe = new ProcessProbe(app.pid);
  const rows: string[] = [];
  try {
    // Users as a real load has them: starts of one user are serialised (its row is locked to
    // count its running replies), so the streams are spread over USERS users.
    const users: Record<string, string>[] = [];
    for (let u = 0; u < USERS; u++) {
      const register = await fetch(`${app.baseUrl}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          email: `bench-streaming-${u}@example.com`,
          password: 'bench-password-1',
        }),
      });
      const { accessToken } = (await register.json()) as { accessToken: string };
      users.push({ authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' });
    }
    const rooms: { id: string; auth: Record<string, string> }[] = [];
    for (let i = 0; i < Math.max(...LEVELS); i++) {
      const auth = users[i % USERS];
      const res = await fetch(`${app.baseUrl}/api/chat-rooms`, {
        method: 'POST',
        headers: auth,
        body: '{}',
      });
      rooms.push({ id: ((await res.json()) as { id: string }).id, auth });
    }

    // Warm-up (not measured): JIT, the pools' connections, the model client's sockets.
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        rooms.slice(0, Math.min(100, rooms.length)).map((room) =>
          runStream(
            `${app.baseUrl}/api/chat-rooms/${room.id}/generations`,
            {
              headers: { ...room.auth, accept: 'text/event-stream' },
              body: JSON.stringify({ content: 'warm' }),
            },
            false,
          ),
        ),
      );
    }

    for (const level of LEVELS) {
      // Directly from the fake model.
      const directBody = JSON.stringify({
        model: 'bench-model',
        stream: true,
        messages: [{ role: 'user', content: 'go' }],
      });
      const direct = await Promise.all(
        Array.from({ length: level }, () =>
          runStream(
            `${fake.url}/chat/completions`,
            { headers: { 'content-type': 'application/json' }, body: directBody },
            true,
          ),
        ),
      );
      // Through the app.
      const rssBefore = probe.memory().rssKb;
      const cpuBefore = probe.cpuSeconds();
      const sqlBefore = proxy.read();
      probe.beginWindow();
      const viaApp = await Promise.all(
        rooms.slice(0, level).map((room) =>
          runStream(
            `${app.baseUrl}/api/chat-rooms/${room.id}/generations`,
            {
              headers: { ...room.auth, accept: 'text/event-stream' },
              body: JSON.stringify({ content: 'go' }),
            },
            false,
          ),
        ),
      );
      const peakKb = probe.endWindow();
      const cpu = probe.cpuSeconds() - cpuBefore;
      // Terminal writes land just after the last event: give them a moment before counting.
      await new Promise((r) => setTimeout(r, 1000));
      const statements = proxy.read() - sqlBefore;

      const firstAdded =
        percentile(
          viaApp.map((r) => r.firstMs),
          50,
        ) -
        percentile(
          direct.map((r) => r.firstMs),
          50,
        );
      const firstAdded99 =
        percentile(
          viaApp.map((r) => r.firstMs),
          99,
        ) -
        percentile(
          direct.map((r) => r.firstMs),
          99,
        );
      const appTokens = viaApp.flatMap((r) => r.tokenMs);
      const directTokens = direct.flatMap((r) => r.tokenMs);
      // Refused streams (any status but 200) are counted apart from accepted streams that lost,
      // reordered or mismatched an event; the direct baseline's own failures are not the app's.
      const refused = viaApp.filter((r) => r.status !== 200).length;
      const bad = viaApp.filter((r) => r.problem).length;
      const directBad = direct.filter((r) => r.status !== 200 || r.problem).length;
      rows.push(
        `| ${level} | ${TOKENS} @ ${PACE_MS} ms | ${f(firstAdded)} / ${f(firstAdded99)} | ` +
          `${f(percentile(directTokens, 50))} / ${f(percentile(directTokens, 99))} | ` +
          `${f(percentile(appTokens, 50))} / ${f(percentile(appTokens, 99))} | ` +
          `${f(percentile(appTokens, 50) - percentile(directTokens, 50))} / ${f(percentile(appTokens, 99) - percentile(directTokens, 99))} | ` +
          `${refused} | ${bad} | ${f((cpu * 1000 * 1000) / appTokens.length)} | ${f((peakKb - rssBefore) / level)} | ${f(statements / level)} |`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
      const statuses: Record<number, number> = {};
      for (const r of viaApp) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      process.stdout.write(`statuses via the app: ${JSON.stringify(statuses)}\n`);
      const problems: Record<string, number> = {};
      for (const r of viaApp) if (r.problem) problems[r.problem] = (problems[r.problem] ?? 0) + 1;
      process.stdout.write(
        `accepted streams with a problem: ${JSON.stringify(problems)}; direct streams failed: ${directBad}\n`,
      );
    }
  } finally {
    await app.stop();
    await proxy.close();
    await fake.close();
    await db.dispose(false);
  }
  process.stdout.write(
    [
      '',
      '| streams | tokens | added first-token delay p50 / p99 (ms) | per-token delay direct p50 / p99 (ms) | via app p50 / p99 (ms) | added p50 / p99 (ms) | refused | accepted streams lost or reordered | app CPU ms / 1,000 tokens | app memory KiB / open stream | SQL statements / generation |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
    ].join('\n'),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
