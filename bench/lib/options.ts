/**
 * Bench settings: command-line flags override BENCH_* environment variables, which override the
 * defaults (or the --quick defaults). `--users=50` and `BENCH_USERS=50` mean the same.
 */
import { SCENARIO_NAMES, ScenarioName } from './scenarios';

export type SqlCountMode = 'proxy' | 'off';

/** A mistake in how the bench was started: reported as one line, without a stack trace. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface BenchOptions {
  quick: boolean;
  floorOnly: boolean;
  appOnly: boolean;
  keepDb: boolean;
  /** Data set. */
  users: number;
  rooms: number;
  tokens: number;
  minMessages: number;
  maxMessages: number;
  minChars: number;
  maxChars: number;
  seed: number;
  /** Load. */
  connections: number;
  duration: number;
  warmup: number;
  rounds: number;
  countDuration: number;
  scenarios: ScenarioName[];
  sqlCount: SqlCountMode;
  /** Environment. */
  databaseUrl: string | undefined;
  appEntry: string | undefined;
  poolSize: number;
  pipelineConnections: number;
}

interface NumberSetting {
  key: keyof BenchOptions;
  flag: string;
  env: string;
  normal: number;
  quick: number;
  min: number;
  max: number;
  help: string;
}

const NUMBERS: NumberSetting[] = [
  {
    key: 'users',
    flag: 'users',
    env: 'BENCH_USERS',
    normal: 200,
    quick: 24,
    min: 2,
    max: 100_000,
    help: 'registered users',
  },
  {
    key: 'rooms',
    flag: 'rooms',
    env: 'BENCH_ROOMS',
    normal: 20,
    quick: 20,
    min: 1,
    max: 10_000,
    help: 'rooms per user (reading users always get exactly 20)',
  },
  {
    key: 'tokens',
    flag: 'tokens',
    env: 'BENCH_TOKENS',
    normal: 16,
    quick: 8,
    min: 1,
    max: 10_000,
    help: 'distinct users whose tokens read, and as many that write',
  },
  {
    key: 'minMessages',
    flag: 'min-messages',
    env: 'BENCH_MIN_MESSAGES',
    normal: 10,
    quick: 10,
    min: 0,
    max: 1_000_000,
    help: 'fewest messages in a room',
  },
  {
    key: 'maxMessages',
    flag: 'max-messages',
    env: 'BENCH_MAX_MESSAGES',
    normal: 1000,
    quick: 1000,
    min: 1,
    max: 1_000_000,
    help: 'most messages in a room',
  },
  {
    key: 'minChars',
    flag: 'min-chars',
    env: 'BENCH_MIN_CHARS',
    normal: 50,
    quick: 50,
    min: 1,
    max: 32_000,
    help: 'shortest message',
  },
  {
    key: 'maxChars',
    flag: 'max-chars',
    env: 'BENCH_MAX_CHARS',
    normal: 2000,
    quick: 2000,
    min: 1,
    max: 32_000,
    help: 'longest message',
  },
  {
    key: 'seed',
    flag: 'seed',
    env: 'BENCH_SEED',
    normal: 42,
    quick: 42,
    min: 0,
    max: 2 ** 31,
    help: 'random seed of the data set',
  },
  {
    key: 'connections',
    flag: 'connections',
    env: 'BENCH_CONNECTIONS',
    normal: 32,
    quick: 32,
    min: 1,
    max: 10_000,
    help: 'concurrent HTTP connections',
  },
  {
    key: 'duration',
    flag: 'duration',
    env: 'BENCH_DURATION',
    normal: 10,
    quick: 2,
    min: 1,
    max: 3600,
    help: 'measured seconds per scenario and server',
  },
  {
    key: 'warmup',
    flag: 'warmup',
    env: 'BENCH_WARMUP',
    normal: 3,
    quick: 1,
    min: 0,
    max: 600,
    help: 'warm-up seconds before each measurement',
  },
  {
    key: 'rounds',
    flag: 'rounds',
    env: 'BENCH_ROUNDS',
    normal: 1,
    quick: 1,
    min: 1,
    max: 100,
    help: 'app/floor alternations per scenario (medians reported)',
  },
  {
    key: 'countDuration',
    flag: 'count-duration',
    env: 'BENCH_COUNT_DURATION',
    normal: 2,
    quick: 1,
    min: 1,
    max: 600,
    help: 'seconds of the separate SQL-counting pass per scenario and server',
  },
  {
    key: 'poolSize',
    flag: 'pool-size',
    env: 'BENCH_POOL_SIZE',
    normal: 10,
    quick: 10,
    min: 1,
    max: 200,
    help: 'DB pool size of both servers (DB_POOL_SIZE)',
  },
  {
    key: 'pipelineConnections',
    flag: 'pipeline-connections',
    env: 'BENCH_PIPELINE_CONNECTIONS',
    normal: 2,
    quick: 2,
    min: 0,
    max: 16,
    help: "the app's pipelined connections (DB_PIPELINE_CONNECTIONS; 0: pool only, like the floor)",
  },
];

export const USAGE = `Usage: ts-node --transpile-only bench/run.ts [flags]

  --quick            smoke run (small data set, ${NUMBERS.find((n) => n.key === 'duration')?.quick} s per scenario)
  --floor-only       benchmark only the floor server (no built app needed)
  --app-only         benchmark only the app
  --keep-db          do not drop the bench database at the end (external DATABASE_URL only)
  --scenarios=a,b    subset of: ${SCENARIO_NAMES.join(', ')}   (BENCH_SCENARIOS)
  --sql-count=mode   proxy (default) | off                                  (BENCH_SQL_COUNT)
  --app-entry=path   the built app (default dist/main.js, else dist/src/main.js)    (BENCH_APP_ENTRY)
${NUMBERS.map((n) => `  --${`${n.flag}=N`.padEnd(17)}${n.help} [${n.normal}; quick ${n.quick}]  (${n.env})`).join('\n')}

  DATABASE_URL       use this PostgreSQL (a fresh database is created on it and dropped);
                     unset: a throw-away embedded PostgreSQL is started`;

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new ConfigError(`unknown argument ${arg}\n\n${USAGE}`);
    flags.set(match[1], match[2] ?? 'true');
  }
  const known = new Set([
    'quick',
    'floor-only',
    'app-only',
    'keep-db',
    'scenarios',
    'sql-count',
    'app-entry',
    ...NUMBERS.map((n) => n.flag),
  ]);
  for (const flag of flags.keys())
    if (!known.has(flag)) throw new ConfigError(`unknown flag --${flag}\n\n${USAGE}`);

  const bool = (flag: string, envName: string) => {
    const raw = flags.get(flag) ?? env[envName];
    return raw !== undefined && raw !== '' && raw !== '0' && raw !== 'false';
  };
  const quick = bool('quick', 'BENCH_QUICK');

  const options: Record<string, unknown> = {
    quick,
    floorOnly: bool('floor-only', 'BENCH_FLOOR_ONLY'),
    appOnly: bool('app-only', 'BENCH_APP_ONLY'),
    keepDb: bool('keep-db', 'BENCH_KEEP_DB'),
    databaseUrl: env.DATABASE_URL || undefined,
    appEntry: flags.get('app-entry') ?? (env.BENCH_APP_ENTRY || undefined),
  };
  for (const n of NUMBERS) {
    const raw = flags.get(n.flag) ?? env[n.env];
    const value = raw === undefined || raw === '' ? (quick ? n.quick : n.normal) : Number(raw);
    if (!Number.isInteger(value) || value < n.min || value > n.max) {
      throw new ConfigError(
        `--${n.flag} / ${n.env} must be an integer from ${n.min} to ${n.max} (got ${raw})`,
      );
    }
    options[n.key] = value;
  }

  const scenarioList = flags.get('scenarios') ?? env.BENCH_SCENARIOS;
  const scenarios = scenarioList
    ? scenarioList
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [...SCENARIO_NAMES];
  for (const s of scenarios) {
    if (!(SCENARIO_NAMES as readonly string[]).includes(s))
      throw new ConfigError(`unknown scenario ${s}; known: ${SCENARIO_NAMES.join(', ')}`);
  }
  options.scenarios = scenarios;

  const sqlCount = flags.get('sql-count') ?? env.BENCH_SQL_COUNT ?? 'proxy';
  if (!['proxy', 'off'].includes(sqlCount))
    throw new ConfigError('--sql-count must be proxy or off');
  options.sqlCount = sqlCount;

  const result = options as unknown as BenchOptions;
  if (result.floorOnly && result.appOnly)
    throw new ConfigError('--floor-only and --app-only exclude each other');
  if (result.minMessages > result.maxMessages)
    throw new ConfigError('min-messages must not exceed max-messages');
  if (result.minChars > result.maxChars)
    throw new ConfigError('min-chars must not exceed max-chars');
  // Readers and writers are distinct users; the rest only add realistic bulk.
  result.tokens = Math.min(result.tokens, Math.floor(result.users / 2));
  return result;
}
