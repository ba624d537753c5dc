/**
 * `npm run bench -- --search`: GET /api/search on a database of a million messages and more
 * (see bench/README.md).
 *
 *  1. a fresh database and the built app, twice (timed, and behind the statement counter);
 *  2. searchers registered through the API, each with the same fixed history; background
 *     users' messages in bulk SQL until the database holds `--messages` (lib/search-seed.ts);
 *  3. per query (rare term, common term, 2-character Korean term present and absent, phrase):
 *     a sanity request, a counting pass (statements per request), a timed run at
 *     `--connections`, and the plan PostgreSQL runs the statement with (EXPLAIN ANALYZE,
 *     BUFFERS, after the executions that settle a prepared statement's plan);
 *  4. the database grows `--growth` times with other users' messages (the searchers' own
 *     history unchanged) and step 3 runs again;
 *  5. bench/results/search.md (and a JSON file of the raw numbers).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { valuesOf } from '../src/database/statement';
import { hitsStatementFor } from '../src/search/search.repository';
import { hitsParams } from '../src/search/search.service';
import { sessionIdOf } from '../test/factories/users';
import { parseSearchTerms } from '../src/search/search-terms';
import { BENCH_DIR, buildEntryPoints, NODE_PATH } from './lib/build';
import { createBenchDatabase } from './lib/database';
import { pg, PgPool } from './lib/deps';
import { LoadClient } from './lib/load-client';
import type { LoadSummary } from './lib/load-worker';
import { freePort, withUrl } from './lib/net';
import { formatMarkdown } from './lib/report';
import { ScenarioData, SEARCH_SCENARIO_NAMES, SearchScenarioName } from './lib/scenarios';
import {
  ABSENT_KOREAN,
  COMMON_TERM,
  KOREAN_2,
  PHRASE,
  RARE_TERM,
  SEARCHER_MESSAGES,
  SearchSeedStats,
  seedBackground,
  seedSearchers,
} from './lib/search-seed';
import { CountingProxy } from './lib/sql-counter';
import { baseEnv, ServerHandle, startServer } from './lib/servers';

const REPO_DIR = resolve(BENCH_DIR, '..');
const RESULTS_DIR = join(BENCH_DIR, 'results');
const INDEX = 'ix_messages_owner_content_trgm';

const QUERIES: Record<SearchScenarioName, string> = {
  'search-rare': RARE_TERM,
  'search-common': COMMON_TERM,
  'search-korean-2': KOREAN_2,
  'search-korean-2-absent': ABSENT_KOREAN,
  'search-phrase': `"${PHRASE}"`,
};

interface Options {
  messages: number;
  growth: number;
  searchers: number;
  connections: number;
  warmup: number;
  duration: number;
  countDuration: number;
  seed: number;
}

function parseOptions(argv: string[]): Options {
  const quick = argv.includes('--quick');
  const value = (name: string, fallback: number) => {
    const arg = argv.find((a) => a.startsWith(`--${name}=`));
    const n = arg ? Number(arg.slice(name.length + 3)) : fallback;
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number`);
    return n;
  };
  return {
    messages: value('messages', quick ? 100_000 : 1_000_000),
    growth: value('growth', 10),
    searchers: value('searchers', 16),
    connections: value('connections', 32),
    warmup: value('warmup', quick ? 1 : 3),
    duration: value('duration', quick ? 5 : 15),
    countDuration: value('count-duration', quick ? 2 : 5),
    seed: value('seed', 42),
  };
}

const log = (line: string) => console.log(`[bench:search] ${line}`);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Measured {
  scenario: SearchScenarioName | 'me';
  /** One-minute load average of the machine when the run ended (other work shares it). */
  load: number;
  q: string;
  hits: number;
  summary: LoadSummary;
  statementsPerRequest: number;
  plan: string;
  planMs: number;
}

interface Phase {
  label: string;
  totalMessages: number;
  indexSeconds: number;
  indexBytes: number;
  results: Measured[];
}

export async function runSearchBench(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    return await run(options, cleanups);
  } finally {
    for (const step of cleanups.reverse()) await step().catch(() => undefined);
  }
}

async function run(options: Options, cleanups: (() => Promise<unknown>)[]): Promise<number> {
  const entry = join(REPO_DIR, 'dist/main.js');
  if (!existsSync(entry)) throw new Error('dist/main.js is missing: run `npm run build` first');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const build = buildEntryPoints(['lib/load-worker.ts']);
  cleanups.push(() => Promise.resolve(build.remove()));

  const db = await createBenchDatabase(process.env.DATABASE_URL);
  cleanups.push(() => db.dispose(false));
  log(`database ${db.name} on PostgreSQL ${db.serverVersion}`);
  const pool: PgPool = new pg.Pool({ connectionString: db.url, max: 4 });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());

  const secret = randomBytes(32).toString('hex');
  const dbUrl = new URL(db.url);
  async function launch(
    counting: boolean,
  ): Promise<{ handle: ServerHandle; proxy?: CountingProxy }> {
    let url = db.url;
    let proxy: CountingProxy | undefined;
    if (counting) {
      proxy = await CountingProxy.start(dbUrl.hostname, Number(dbUrl.port || 5432));
      const p = proxy;
      cleanups.push(() => p.close());
      url = withUrl(db.url, { host: '127.0.0.1', port: proxy.port });
    }
    const handle = await startServer({
      target: 'app',
      entry,
      cwd: REPO_DIR,
      port: await freePort(),
      env: {
        ...baseEnv(),
        DATABASE_URL: url,
        JWT_SECRET: secret,
        JWT_EXPIRES_IN: '86400',
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        AUTH_RATE_LIMIT: '1000000',
        LOG_LEVEL: 'warn',
      },
      logFile: join(RESULTS_DIR, `search-app${counting ? '-counting' : ''}.log`),
      startTimeoutMs: 120_000,
    });
    cleanups.push(() => handle.stop());
    return { handle, proxy };
  }
  const timed = await launch(false);
  const counter = await launch(true);
  log(`app on ${timed.handle.baseUrl}, counting instance on ${counter.handle.baseUrl}`);

  const searchers: { id: string; token: string }[] = [];
  for (let i = 0; i < options.searchers; i++) {
    const res = await fetch(`${timed.handle.baseUrl}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: `searcher${i}@example.com`, password: `search-bench-${i}` }),
    });
    const body = (await res.json()) as { user: { id: string }; accessToken: string };
    if (res.status !== 201) throw new Error(`register searcher ${i}: HTTP ${res.status}`);
    searchers.push({ id: body.user.id, token: body.accessToken });
  }

  // The GIN index is built once after each bulk load: faster than growing it row by row, and
  // the same index. Its definition is read from the database, as the migration made it.
  const { rows: defs } = await pool.query<{ def: string }>(
    `SELECT indexdef AS def FROM pg_indexes WHERE indexname = $1`,
    [INDEX],
  );
  if (defs.length !== 1) throw new Error(`${INDEX} is missing: are the app's migrations run?`);
  const indexDef = defs[0].def;
  const seeds: SearchSeedStats[] = [];
  async function load(messages: number, label: string, seed: number): Promise<[number, number]> {
    await pool.query(`DROP INDEX IF EXISTS ${INDEX}`);
    seeds.push(await seedBackground(pool, messages, seed, label));
    log(`${label}: ${messages} background messages in ${seeds.at(-1)!.seconds.toFixed(0)} s`);
    const client = await pool.connect();
    const t0 = Date.now();
    try {
      await client.query(`SET maintenance_work_mem = '1GB'`);
      await client.query(indexDef);
    } finally {
      client.release();
    }
    const indexSeconds = (Date.now() - t0) / 1000;
    await pool.query('VACUUM (ANALYZE) users, chat_rooms, messages');
    const { rows } = await pool.query<{ bytes: string }>(`SELECT pg_relation_size($1) AS bytes`, [
      INDEX,
    ]);
    log(
      `${INDEX} built in ${indexSeconds.toFixed(0)} s, ${(Number(rows[0].bytes) / 2 ** 20).toFixed(0)} MiB`,
    );
    return [indexSeconds, Number(rows[0].bytes)];
  }

  await pool.query(`DROP INDEX IF EXISTS ${INDEX}`);
  seeds.push(
    await seedSearchers(
      pool,
      searchers.map((s) => s.id),
      options.seed,
    ),
  );
  log(`${options.searchers} searchers with ${SEARCHER_MESSAGES} messages each`);
  const base = options.messages - options.searchers * SEARCHER_MESSAGES;
  const [baseIndexSeconds, baseIndexBytes] = await load(base, 'base', options.seed + 1);

  const loader = new LoadClient(build.outputs.get('lib/load-worker.ts') as string, NODE_PATH);
  cleanups.push(() => loader.stop());
  const data: ScenarioData = {
    // GET /api/users/me with the searchers' tokens: the machine's floor at the same moment.
    readers: searchers.map((s) => ({ token: s.token, room100: '', room1000: '', cursors: [] })),
    writers: [],
    logins: [],
    minChars: 0,
    maxChars: 0,
    searchers: searchers.map((s) => s.token),
    searchQueries: QUERIES,
  };

  async function phase(label: string, indexSeconds: number, indexBytes: number): Promise<Phase> {
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM messages');
    const totalMessages = Number(rows[0].n);
    log(`${label}: ${totalMessages} messages`);
    const results: Measured[] = [];
    for (const scenario of ['me', ...SEARCH_SCENARIO_NAMES] as const) {
      const q = scenario === 'me' ? '' : QUERIES[scenario];
      const sample = await fetch(
        scenario === 'me'
          ? `${timed.handle.baseUrl}/api/users/me`
          : `${timed.handle.baseUrl}/api/search?q=${encodeURIComponent(q)}&limit=20`,
        { headers: { authorization: `Bearer ${searchers[0].token}` } },
      );
      const body = (await sample.json()) as { items?: unknown[] };
      if (sample.status !== 200) throw new Error(`${scenario}: HTTP ${sample.status}`);
      const command = (url: string, warmup: number, duration: number) => ({
        type: 'run' as const,
        url,
        scenario,
        data,
        seed: options.seed,
        connections: options.connections,
        warmupSeconds: warmup,
        durationSeconds: duration,
      });
      let before = 0;
      const counted = await loader.run(
        command(counter.handle.baseUrl, 0, options.countDuration),
        async () => {
          await sleep(300);
          before = counter.proxy!.read();
        },
      );
      await sleep(500);
      const statementsPerRequest = (counter.proxy!.read() - before) / counted.sent;
      await sleep(500);
      const summary = await loader.run(
        command(timed.handle.baseUrl, options.warmup, options.duration),
        () => sleep(500),
      );
      const { plan, planMs } =
        scenario === 'me' ? { plan: '', planMs: NaN } : await explain(pool, searchers[0], q);
      results.push({
        scenario,
        load: loadavg()[0],
        q,
        hits: body.items?.length ?? 0,
        summary,
        statementsPerRequest,
        plan,
        planMs,
      });
      log(
        `${label} ${scenario.padEnd(24)} ${summary.requestsPerSecond.toFixed(0).padStart(6)} req/s  ` +
          `p50 ${summary.latencyMs.p50} ms  p99 ${summary.latencyMs.p99} ms  ` +
          `non-2xx ${summary.non2xx + summary.errors}  SQL/req ${statementsPerRequest.toFixed(2)}  ` +
          `EXPLAIN ${planMs.toFixed(1)} ms`,
      );
    }
    return { label, totalMessages, indexSeconds, indexBytes, results };
  }

  const phases = [await phase('base', baseIndexSeconds, baseIndexBytes)];
  // Written now too: the growth phase of a full run takes long, and the base phase stands alone.
  await report(options, db.serverVersion, phases, seeds);
  const [grownIndexSeconds, grownIndexBytes] = await load(
    base * (options.growth - 1) + options.searchers * SEARCHER_MESSAGES * (options.growth - 1),
    'growth',
    options.seed + 2,
  );
  phases.push(await phase(`grown ${options.growth}×`, grownIndexSeconds, grownIndexBytes));

  await report(options, db.serverVersion, phases, seeds);
  const failed = phases.some((p) => p.results.some((r) => r.summary.non2xx + r.summary.errors > 0));
  return failed ? 1 : 0;
}

/**
 * The plan the app's statement runs with: EXPLAIN (ANALYZE, BUFFERS) of the very statement and
 * values, sent the same way (unnamed, so planned with the actual values, like the app's
 * `planEachTime` statements), after one run to warm the cache.
 */
async function explain(
  pool: PgPool,
  searcher: { id: string; token: string },
  q: string,
): Promise<{ plan: string; planMs: number }> {
  const caller = { id: searcher.id, sessionId: sessionIdOf(searcher.token) };
  const params = hitsParams(caller, parseSearchTerms(q), 21);
  const statement = hitsStatementFor(params);
  const values = valuesOf(statement, params);
  if (!statement.options.planEachTime) throw new Error('expected a planEachTime statement');
  await pool.query(statement.text, values);
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, BUFFERS) ${statement.text}`,
    values,
  );
  const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
  const planMs = Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? NaN);
  return { plan, planMs };
}

async function report(
  options: Options,
  postgres: string,
  phases: Phase[],
  seeds: SearchSeedStats[],
): Promise<void> {
  const [base, grown] = phases as [Phase, Phase | undefined];
  const row = (p: Phase, r: Measured) =>
    `| ${p.label} | ${p.totalMessages.toLocaleString('en')} | ${r.scenario === 'me' ? 'GET /api/users/me (floor)' : r.scenario} | ${r.q ? `\`${r.q}\`` : ''} | ${r.scenario === 'me' ? '' : r.hits} | ` +
    `${r.summary.requestsPerSecond.toFixed(0)} | ${r.summary.latencyMs.p50} | ${r.summary.latencyMs.p99} | ` +
    `${r.summary.non2xx + r.summary.errors} | ${r.statementsPerRequest.toFixed(2)} | ${Number.isNaN(r.planMs) ? '' : r.planMs.toFixed(2)} | ${r.load.toFixed(1)} |`;
  const rare = (p: Phase) => p.results.find((r) => r.scenario === 'search-rare')!;
  const change = (a: number, b: number) => `${(((b - a) / a) * 100).toFixed(0)} %`;
  const lines = [
    '# Search benchmark',
    '',
    `Generated by \`npm run bench -- --search\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC; ` +
      `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, ` +
      `PostgreSQL ${postgres}, Node ${process.version}. ${options.connections} connections, ` +
      `${options.duration} s per query after ${options.warmup} s of warm-up; ${options.searchers} ` +
      `searchers with ${SEARCHER_MESSAGES.toLocaleString('en')} messages each, unchanged between ` +
      `the phases. Average message: ${seeds[1]?.averageChars ?? '?'} characters.`,
    '',
    '| phase | messages | query | q | hits (page of 20) | req/s | p50 ms | p99 ms | errors | SQL/req | EXPLAIN ANALYZE ms | load average |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...phases.flatMap((p) => p.results.map((r) => row(p, r))),
    '',
    grown
      ? `Rare term after ${options.growth}× growth: p50 ${change(rare(base).summary.latencyMs.p50, rare(grown).summary.latencyMs.p50)}, ` +
        `p99 ${change(rare(base).summary.latencyMs.p99, rare(grown).summary.latencyMs.p99)}, ` +
        `EXPLAIN ANALYZE ${change(rare(base).planMs, rare(grown).planMs)}.`
      : `(The ${options.growth}× growth phase had not finished when this was written.)`,
    '',
    ...phases.map(
      (p) =>
        `${p.label}: ${INDEX} built in ${p.indexSeconds.toFixed(0)} s, ${(p.indexBytes / 2 ** 20).toFixed(0)} MiB.`,
    ),
    '',
    '## Plans (searcher #0, first page)',
    '',
    ...phases.flatMap((p) =>
      p.results
        .filter((r) => r.scenario !== 'me')
        .flatMap((r) => [
          `### ${p.label}: ${r.scenario} (\`${r.q}\`)`,
          '',
          '```',
          r.plan,
          '```',
          '',
        ]),
    ),
  ];
  const file = join(RESULTS_DIR, 'search.md');
  writeFileSync(file, await formatMarkdown(lines.join('\n'), file));
  writeFileSync(
    join(RESULTS_DIR, `search-${new Date().toISOString().replace(/[:.]/g, '-')}.json`),
    JSON.stringify({ options, phases, seeds }, null, 2),
  );
  log(`written to ${file}`);
}
