/**
 * The import of a large ChatGPT export through the built app (dist/main.js), then the export
 * of the account it made:
 *
 *   npm run bench:import                                        # 5,000 conversations × 50 messages
 *   npm run bench:import -- --conversations=500 --messages=50   # a smaller file
 *   npm run bench:import -- --zip                               # the same, as ChatGPT's ZIP
 *
 * A `conversations.json` of `--conversations` conversations of `--messages` visible messages
 * each (bench/lib/chatgpt-export.ts: ChatGPT's shape, branches, multimodal parts, mixed
 * scripts; the same options give the same file) is written to a temporary directory, and with
 * `--zip` deflated into a ZIP. The app runs on a fresh bench database with IMPORT_POLL_MS=200;
 * a warm-up user imports a small file first (not measured). Then one user posts the file,
 * streamed from disk, to `POST /api/imports` (the upload: until the 202) and polls
 * `GET /api/imports/:id` every `--poll` ms until it is complete (the import). Reported: upload
 * MB/s, conversations and messages per second, the app's CPU, the CPU of PostgreSQL's
 * processes, and the app's peak RSS above its RSS at rest before the upload (VmHWM, reset
 * before each phase); the progress every 10 s. The result is checked: every conversation
 * imported, none skipped or failed, the rooms and messages in the database, no stored chunk
 * left. Then, the app restarted (the import leaves its heap grown), `GET /api/users/me/export`
 * of that account, `--export-runs` times, as bench/export.ts measures it. Prints Markdown tables, with the load average beside.
 */
import { request } from 'node:http';
import { createReadStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeChatGptExport, writeZip } from './lib/chatgpt-export';
import { createBenchDatabase } from './lib/database';
import { pg, type PgClient } from './lib/deps';
import { type Download, download } from './lib/export-download';
import { freePort } from './lib/net';
import { ProcessProbe } from './lib/proc';
import { productionAppEnv, startServer } from './lib/servers';

const ROOT = resolve(__dirname, '..');
const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const CONVERSATIONS = Number(arg('conversations', '5000'));
const MESSAGES = Number(arg('messages', '50'));
const EXPORT_RUNS = Number(arg('export-runs', '2'));
const POLL_MS = Number(arg('poll', '500'));
const ZIP = process.argv.includes('--zip');
const KEEP_FILES = process.argv.includes('--keep-files');

interface ImportBody {
  id: string;
  status: 'queued' | 'running' | 'complete' | 'failed';
  format: string;
  createdAt: string;
  finishedAt: string | null;
  reason: string | null;
  conversations: { total: number; imported: number; skipped: number; failed: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fixed = (n: number, digits = 1) => n.toFixed(digits);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Posts the file at `path`, streamed from disk; resolves with the answer once it is whole. */
function upload(
  base: string,
  path: string,
  bytes: number,
  contentType: string,
  token: string,
): Promise<{ status: number; location: string | undefined; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      `${base}/api/imports`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': contentType,
          'content-length': String(bytes),
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => (body += text));
        res.on('end', () =>
          done({ status: res.statusCode ?? 0, location: res.headers.location, body }),
        );
        res.on('error', fail);
      },
    );
    req.on('error', fail);
    createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(req);
  });
}

async function getImport(base: string, location: string, token: string): Promise<ImportBody> {
  const res = await fetch(`${base}${location}?itemsLimit=1`, {
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 200) throw new Error(`GET ${location}: ${res.status} ${await res.text()}`);
  return (await res.json()) as ImportBody;
}

async function register(base: string, email: string): Promise<string> {
  const res = await fetch(`${base}/api/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password: 'bench-password-1' }),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { accessToken: string }).accessToken;
}

/**
 * CPU seconds of PostgreSQL's processes: the bench database's backends (the app's pool) and
 * the server's own writers. A backend that ends within a window is missed; one that starts
 * counts from its start.
 */
class PostgresCpu {
  private start = new Map<number, number>();
  constructor(
    private readonly client: PgClient,
    private readonly database: string,
  ) {}

  private async pids(): Promise<number[]> {
    const { rows } = await this.client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE (datname = $1 AND pid <> pg_backend_pid())
          OR backend_type IN ('checkpointer', 'background writer', 'walwriter', 'autovacuum worker')`,
      [this.database],
    );
    return rows.map((r) => r.pid);
  }

  async begin(): Promise<void> {
    this.start = new Map(
      (await this.pids()).map((pid) => [pid, new ProcessProbe(pid).cpuSeconds()]),
    );
  }

  async end(): Promise<number> {
    let total = 0;
    for (const pid of await this.pids()) {
      total += new ProcessProbe(pid).cpuSeconds() - (this.start.get(pid) ?? 0);
    }
    return total;
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-import-'));
  const jsonPath = join(dir, 'conversations.json');
  const genStart = performance.now();
  const file = await writeChatGptExport(jsonPath, {
    conversations: CONVERSATIONS,
    messages: MESSAGES,
  });
  let uploadPath = jsonPath;
  let uploadBytes = file.bytes;
  if (ZIP) {
    uploadPath = join(dir, 'chatgpt-export.zip');
    uploadBytes = await writeZip(jsonPath, uploadPath, 'conversations.json');
  }
  const contentType = ZIP ? 'application/zip' : 'application/json';
  process.stdout.write(
    `generated ${file.conversations} conversations, ${file.messages} messages ` +
      `(${file.regenerated} with a regenerated answer, ${file.edited} with an edited question, ` +
      `${file.multimodal} multimodal messages): ${fixed(file.bytes / 1e6)} MB of JSON` +
      (ZIP ? `, ${fixed(uploadBytes / 1e6)} MB zipped` : '') +
      ` in ${fixed((performance.now() - genStart) / 1000)} s\n`,
  );

  const db = await createBenchDatabase(process.env.DATABASE_URL);
  const startApp = async (log: string) =>
    startServer({
      target: 'app',
      entry: join(ROOT, 'dist/main.js'),
      cwd: ROOT,
      port: await freePort(),
      env: {
        ...productionAppEnv(db.url),
        IMPORT_POLL_MS: '200',
        // For a diagnosis: NODE_OPTIONS for the app, e.g. `--require <preload.js>` with a
        // preload that calls v8.setFlagsFromString('--trace-gc') (refused in NODE_OPTIONS).
        ...(process.env.BENCH_APP_NODE_OPTIONS
          ? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS }
          : {}),
      },
      logFile: join(dir, log),
      startTimeoutMs: 60_000,
    });
  let app = await startApp('app.log').catch(async (error: unknown) => {
    await db.dispose(false);
    throw error;
  });
  let probe = new ProcessProbe(app.pid);
  const admin = new pg.Client({ connectionString: db.url, application_name: 'bench-import' });
  await admin.connect();
  const postgres = new PostgresCpu(admin, db.name);
  const output: string[] = [];
  let passed = false;
  try {
    // Warm-up (not measured): another user imports a small file, so that the routes, the
    // worker and the pool are ready.
    const warmPath = join(dir, 'warm-up.json');
    const warmFile = await writeChatGptExport(warmPath, {
      conversations: 20,
      messages: 10,
      seed: 7,
    });
    const warmToken = await register(app.baseUrl, 'bench-import-warm-up@example.com');
    const warm = await upload(app.baseUrl, warmPath, warmFile.bytes, 'application/json', warmToken);
    if (warm.status !== 202 || !warm.location)
      throw new Error(`warm-up: ${warm.status} ${warm.body}`);
    for (;;) {
      const state = await getImport(app.baseUrl, warm.location, warmToken);
      if (state.status === 'complete' || state.status === 'failed') break;
      await sleep(200);
    }

    const token = await register(app.baseUrl, 'bench-import@example.com');
    await sleep(1000);
    const loadBefore = load();
    const idleKb = probe.memory().rssKb;
    const cpu0 = probe.cpuSeconds();
    await postgres.begin();
    probe.beginWindow();
    const t0 = performance.now();
    const posted = await upload(app.baseUrl, uploadPath, uploadBytes, contentType, token);
    const uploadMs = performance.now() - t0;
    const uploadPeakKb = probe.endWindow();
    const cpu1 = probe.cpuSeconds();
    const pgUploadCpu = await postgres.end();
    if (posted.status !== 202 || !posted.location) {
      throw new Error(`POST /api/imports: ${posted.status} ${posted.body}`);
    }
    const first = JSON.parse(posted.body) as ImportBody;
    process.stdout.write(
      `uploaded ${fixed(uploadBytes / 1e6)} MB in ${fixed(uploadMs / 1000, 2)} s: ${first.status}, ${first.format}\n`,
    );

    await postgres.begin();
    probe.beginWindow();
    const t1 = performance.now();
    let runningAt: number | null = first.status === 'running' ? 0 : null;
    let state = first;
    const progress: string[] = [];
    let lastAt = 0;
    let lastImported = 0;
    while (state.status === 'queued' || state.status === 'running') {
      await sleep(POLL_MS);
      state = await getImport(app.baseUrl, posted.location, token);
      const at = performance.now() - t1;
      if (runningAt === null && state.status !== 'queued') runningAt = at;
      const finished = state.status === 'complete' || state.status === 'failed';
      if (at - lastAt >= 10_000 || finished) {
        const { rssKb } = probe.memory();
        const rate = (state.conversations.imported - lastImported) / ((at - lastAt) / 1000);
        progress.push(
          `| ${fixed(at / 1000, 0)} | ${state.status} | ${state.conversations.total} | ` +
            `${state.conversations.imported} | ${fixed(rate)} | ${fixed((rssKb - idleKb) / 1024)} | ${load()} |`,
        );
        process.stdout.write(`${progress.at(-1)}\n`);
        lastAt = at;
        lastImported = state.conversations.imported;
      }
    }
    const importMs = performance.now() - t1;
    const importPeakKb = probe.endWindow();
    const cpu2 = probe.cpuSeconds();
    const pgImportCpu = await postgres.end();
    const loadAfter = load();

    const c = state.conversations;
    if (state.status !== 'complete' || c.imported !== CONVERSATIONS || c.total !== CONVERSATIONS) {
      throw new Error(`the import ended ${state.status} (${state.reason}): ${JSON.stringify(c)}`);
    }
    if (c.skipped !== 0 || c.failed !== 0)
      throw new Error(`skipped or failed: ${JSON.stringify(c)}`);
    const { rows: counted } = await admin.query<{
      rooms: number;
      messages: number;
      chunks: number;
    }>(
      `SELECT (SELECT count(*)::int FROM chat_rooms r JOIN users u ON u.id = r.owner_id
               WHERE u.email = $1) AS rooms,
              (SELECT count(*)::int FROM messages m JOIN users u ON u.id = m.owner_id
               WHERE u.email = $1) AS messages,
              (SELECT count(*)::int FROM import_chunks) AS chunks`,
      ['bench-import@example.com'],
    );
    if (
      counted[0].rooms !== CONVERSATIONS ||
      counted[0].messages !== file.messages ||
      counted[0].chunks !== 0
    ) {
      throw new Error(`in the database: ${JSON.stringify(counted[0])}`);
    }
    const serverMs =
      state.finishedAt === null ? NaN : Date.parse(state.finishedAt) - Date.parse(state.createdAt);

    const afterImportKb = probe.memory().rssKb;

    // The export runs on a restarted app, as bench/export.ts measures it: the import leaves
    // the process's heap grown (RSS is not given back), which would hide the export's own peak.
    await app.stop();
    app = await startApp('app-export.log');
    probe = new ProcessProbe(app.pid);
    const { rows: one } = await admin.query<{ id: string }>(
      `SELECT r.id FROM chat_rooms r JOIN users u ON u.id = r.owner_id WHERE u.email = $1 LIMIT 1`,
      ['bench-import@example.com'],
    );
    await download(app.baseUrl, `/api/chat-rooms/${one[0].id}/export`, token); // warm-up
    const exportRows: string[] = [];
    for (let run = 1; run <= EXPORT_RUNS; run++) {
      await sleep(1000);
      const exportIdleKb = probe.memory().rssKb;
      const cpuBefore = probe.cpuSeconds();
      probe.beginWindow();
      const result: Download = await download(app.baseUrl, '/api/users/me/export', token);
      const peakKb = probe.endWindow();
      const cpuS = probe.cpuSeconds() - cpuBefore;
      if (result.status !== 200 || !result.complete) {
        throw new Error(`export ${run}: status ${result.status}, complete ${result.complete}`);
      }
      if (result.rooms !== CONVERSATIONS || result.messages !== file.messages) {
        throw new Error(`export ${run}: ${result.rooms} rooms, ${result.messages} messages`);
      }
      exportRows.push(
        `| ${run} | ${fixed(result.bytes / 1e6)} | ${fixed(result.firstByteMs)} | ` +
          `${fixed(result.totalMs / 1000, 2)} | ${fixed(result.bytes / 1e6 / (result.totalMs / 1000))} | ` +
          `${fixed(cpuS, 2)} | ${fixed(exportIdleKb / 1024)} | ${fixed((peakKb - exportIdleKb) / 1024)} | ${load()} |`,
      );
      process.stdout.write(`${exportRows.at(-1)}\n`);
    }

    const totalMs = uploadMs + importMs;
    output.push(
      '',
      `Import of ${CONVERSATIONS} ChatGPT conversations × ${MESSAGES} messages, ` +
        `${ZIP ? `a ${fixed(uploadBytes / 1e6)} MB ZIP of ` : ''}${fixed(file.bytes / 1e6)} MB of JSON ` +
        `(PostgreSQL ${db.serverVersion}${db.embedded ? ', embedded' : ''}; load average ${loadBefore} before, ${loadAfter} after)`,
      '',
      '| phase | s | rate | app CPU s | PostgreSQL CPU s | app peak RSS above rest MB |',
      '| --- | ---: | ---: | ---: | ---: | ---: |',
      `| upload (POST until 202) | ${fixed(uploadMs / 1000, 2)} | ${fixed(uploadBytes / 1e6 / (uploadMs / 1000))} MB/s | ` +
        `${fixed(cpu1 - cpu0, 2)} | ${fixed(pgUploadCpu, 2)} | ${fixed((uploadPeakKb - idleKb) / 1024)} |`,
      `| import (202 until complete) | ${fixed(importMs / 1000, 2)} | ` +
        `${fixed(CONVERSATIONS / (importMs / 1000))} conversations/s, ${fixed(file.messages / (importMs / 1000), 0)} messages/s | ` +
        `${fixed(cpu2 - cpu1, 2)} | ${fixed(pgImportCpu, 2)} | ${fixed((importPeakKb - idleKb) / 1024)} |`,
      `| total | ${fixed(totalMs / 1000, 2)} | ${fixed(CONVERSATIONS / (totalMs / 1000))} conversations/s | ` +
        `${fixed(cpu2 - cpu0, 2)} | ${fixed(pgUploadCpu + pgImportCpu, 2)} | ` +
        `${fixed((Math.max(uploadPeakKb, importPeakKb) - idleKb) / 1024)} |`,
      '',
      `App RSS at rest before the upload: ${fixed(idleKb / 1024)} MB, after the import ` +
        `${fixed(afterImportKb / 1024)} MB. Queued for ` +
        `${runningAt === null ? '?' : fixed(runningAt / 1000, 1)} s (as polled every ${POLL_MS} ms); ` +
        `the server's createdAt to finishedAt: ${fixed(serverMs / 1000, 2)} s. ` +
        `Checked: ${c.imported} imported, 0 skipped, 0 failed; ${counted[0].rooms} rooms and ` +
        `${counted[0].messages} messages in the database; no stored chunk left.`,
      '',
      'Progress (every 10 s):',
      '',
      '| s | status | read | imported | conversations/s since the last line | app RSS above rest MB | load average |',
      '| ---: | --- | ---: | ---: | ---: | ---: | --- |',
      ...progress,
      '',
      `GET /api/users/me/export of the imported account (${CONVERSATIONS} rooms, ${file.messages} messages), the app restarted`,
      '',
      '| run | document MB | first byte ms | total s | MB/s | app CPU s | app RSS at rest MB | app peak RSS above rest MB | load average |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...exportRows,
      '',
    );
    passed = true;
  } finally {
    await admin.end().catch(() => undefined);
    await app.stop();
    await db.dispose(false);
    // The app's log stays for a failed run.
    if (KEEP_FILES || !passed) process.stdout.write(`kept ${dir} (the files and the app's logs)\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(output.join('\n'));
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
