/**
 * Aggregation across rounds and the markdown report (bench/results/latest.md).
 */
import { BenchOptions } from './options';
import { ScenarioName } from './scenarios';
import { SeedStats } from './seed';
import { Target } from './servers';
import { LoadSummary } from './load-worker';

/** One timed run of one scenario on one server. */
export interface Measurement {
  summary: LoadSummary;
  cpuSeconds: number;
  peakRssKb: number;
}

/** The separate counting pass of one scenario on one server's counting instance. */
export interface StatementCount {
  statements: number;
  /** Requests sent during the pass (those still in flight at its end included). */
  requests: number;
  /** Non-2xx responses and socket errors during the pass: they make the count less exact. */
  errors: number;
}

export interface TargetResult {
  target: Target;
  /** `failed`: the sanity request did not get the expected status, so no load was run. */
  status: 'ok' | 'failed';
  reason?: string;
  runs: Measurement[];
  count?: StatementCount;
}

export interface ScenarioResult {
  name: ScenarioName;
  title: string;
  targets: Partial<Record<Target, TargetResult>>;
  /** `same`/`differs` when both servers answered the sanity request; otherwise `n/a`. */
  parity: 'same' | 'differs' | 'n/a';
  parityNote?: string;
}

export interface Aggregate {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  statementsPerRequest: number | null;
  cpuMsPerRequest: number;
  peakRssMb: number;
  requests: number;
}

export interface Environment {
  date: string;
  cpu: string;
  cpus: number;
  memory: string;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  database: string;
  gitCommit: string;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Medians of the per-round rates and latencies; totals for errors and CPU. */
export function aggregate(result: TargetResult | undefined): Aggregate | null {
  if (!result || result.status !== 'ok' || result.runs.length === 0) return null;
  const runs = result.runs;
  const sent = runs.reduce((sum, r) => sum + r.summary.sent, 0);
  const count = result.count;
  return {
    requestsPerSecond: median(runs.map((r) => r.summary.requestsPerSecond)),
    p50: median(runs.map((r) => r.summary.latencyMs.p50)),
    p99: median(runs.map((r) => r.summary.latencyMs.p99)),
    errors: runs.reduce(
      (sum, r) => sum + r.summary.non2xx + r.summary.errors + r.summary.unrotated,
      0,
    ),
    statementsPerRequest: count && count.requests > 0 ? count.statements / count.requests : null,
    cpuMsPerRequest: sent > 0 ? (1000 * runs.reduce((sum, r) => sum + r.cpuSeconds, 0)) / sent : 0,
    peakRssMb: Math.max(...runs.map((r) => r.peakRssKb)) / 1024,
    requests: runs.reduce((sum, r) => sum + r.summary.completed, 0),
  };
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const rate = (n: number) => (n >= 100 ? int(n) : n.toFixed(1));
const ms = (n: number) => (n >= 100 ? int(n) : n.toFixed(1));

function pair(
  app: Aggregate | null,
  floor: Aggregate | null,
  format: (a: Aggregate) => string,
  show: Target[],
): string {
  const cell = (a: Aggregate | null) => (a ? format(a) : '—');
  if (show.length === 1) return cell(show[0] === 'app' ? app : floor);
  return `${cell(app)} / ${cell(floor)}`;
}

function statusNote(result: TargetResult | undefined): string | null {
  return result?.status === 'failed' ? `${result.target}: ${result.reason ?? 'failed'}` : null;
}

export function markdownTable(results: ScenarioResult[], targets: Target[]): string {
  const both = targets.length === 2;
  const label = both ? ' app / floor' : ` ${targets[0]}`;
  const header = [
    'scenario',
    `req/s${label}`,
    ...(both ? ['app/floor'] : []),
    `p50 ms${label}`,
    `p99 ms${label}`,
    `errors${label}`,
    `SQL/req${label}`,
    `CPU ms/req${label}`,
    `peak RSS MB${label}`,
    ...(both ? ['same JSON'] : []),
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  for (const r of results) {
    const app = aggregate(r.targets.app);
    const floor = aggregate(r.targets.floor);
    const ratio =
      app && floor && floor.requestsPerSecond > 0
        ? `${(app.requestsPerSecond / floor.requestsPerSecond).toFixed(2)}×`
        : '—';
    const sql = (a: Aggregate) =>
      a.statementsPerRequest === null ? 'n/a' : a.statementsPerRequest.toFixed(2);
    lines.push(
      `| ${[
        r.name,
        pair(app, floor, (a) => rate(a.requestsPerSecond), targets),
        ...(both ? [ratio] : []),
        pair(app, floor, (a) => ms(a.p50), targets),
        pair(app, floor, (a) => ms(a.p99), targets),
        pair(app, floor, (a) => int(a.errors), targets),
        pair(app, floor, sql, targets),
        pair(app, floor, (a) => a.cpuMsPerRequest.toFixed(2), targets),
        pair(app, floor, (a) => int(a.peakRssMb), targets),
        ...(both ? [r.parity === 'same' ? 'yes' : r.parity === 'differs' ? '**no**' : '—'] : []),
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

export function markdownReport(input: {
  results: ScenarioResult[];
  targets: Target[];
  options: BenchOptions;
  environment: Environment;
  seed: SeedStats;
  sqlCountMethod: string;
  overallPeakRssMb: Partial<Record<Target, number>>;
  warnings: string[];
}): string {
  const { options: o, environment: e, seed: s } = input;
  const notes = input.results.flatMap((r) => [
    ...(['app', 'floor'] as Target[])
      .map((t) => statusNote(r.targets[t]))
      .filter((n): n is string => n !== null)
      .map((n) => `${r.name}: ${n}`),
    ...(r.parity === 'differs' ? [`${r.name}: responses differ — ${r.parityNote ?? ''}`] : []),
    ...(['app', 'floor'] as Target[])
      .filter((t) => (r.targets[t]?.count?.errors ?? 0) > 0)
      .map(
        (t) =>
          `${r.name}: ${t}'s counting pass had ${r.targets[t]?.count?.errors} failed requests (SQL/req is approximate)`,
      ),
  ]);
  const peak = input.targets
    .map((t) => `${t} ${int(input.overallPeakRssMb[t] ?? 0)} MB`)
    .join(', ');
  return `# Benchmark results

Generated by \`bench/run.ts\` on ${e.date}${e.gitCommit ? ` at commit \`${e.gitCommit}\`` : ''}${o.quick ? ' — **quick mode (smoke run, not for comparison)**' : ''}.

${markdownTable(input.results, input.targets)}

- **Machine:** ${e.cpus} × ${e.cpu}, ${e.memory} RAM, Linux ${e.kernel}; Node ${e.node}; PostgreSQL ${e.postgres} (${e.database}; shared_buffers ${e.postgresSettings.shared_buffers ?? '?'} × 8 kB, fsync ${e.postgresSettings.fsync ?? '?'}, synchronous_commit ${e.postgresSettings.synchronous_commit ?? '?'}).
- **Data set:** ${int(s.users)} users, ${int(s.rooms)} rooms, ${int(s.messages)} messages (average ${int(s.averageMessageChars)} characters; room sizes ${o.minMessages}–${o.maxMessages}, message sizes ${o.minChars}–${o.maxChars}, log-uniform), database ${int(s.databaseBytes / 1024 / 1024)} MB; seed ${o.seed}.
- **Load:** autocannon in a separate process, ${o.connections} connections, ${o.warmup} s warm-up + ${o.duration} s measured per scenario and server, ${o.rounds} round(s)${input.targets.length === 2 ? ' alternating app and floor (medians)' : ''}; ${o.tokens} reading and ${o.tokens} writing users' tokens; DB pool ${o.poolSize} for both servers${input.targets.includes('app') ? `, and ${o.pipelineConnections} pipelined connection(s) beside it for the app (\`DB_PIPELINE_CONNECTIONS\`)` : ''}.
- **SQL/req:** ${input.sqlCountMethod}.
- **Overall peak RSS:** ${peak}.
${notes.length + input.warnings.length > 0 ? `\n**Notes**\n\n${[...input.warnings, ...notes].map((n) => `- ${n}`).join('\n')}\n` : ''}`;
}

/** The repository's own Prettier style for a report at `file`, so `prettier --check .` accepts it. */
export async function formatMarkdown(markdown: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(markdown, { ...config, filepath: file });
  } catch {
    return markdown; // prettier is a dev dependency; the report is fine without it
  }
}
