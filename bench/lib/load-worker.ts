/**
 * The load generator, in its own process (forked by the harness) so that autocannon's event
 * loop competes with neither the harness nor the servers' event loops.
 *
 * Protocol over the IPC channel, one run at a time:
 *   harness → { type: 'run', ... }   worker warms up (if warmup > 0) → { type: 'warm' }
 *   harness → { type: 'go' }         worker measures                   → { type: 'result', ... }
 *   harness → { type: 'exit' }
 * The pause between warm-up and measurement lets the harness wait until the server is idle and
 * then take its counters (SQL statements, CPU time, peak RSS) exactly around the measured run.
 *
 * Scenarios with a session per connection (refresh) sign in anew before the warm-up and before
 * the measured run, ahead of the `warm` message, so the logins' argon2 work is over (the harness
 * waits for an idle server) before anything is counted. Fresh sessions, because autocannon
 * stops with requests in flight: a connection would otherwise start the next run with a refresh
 * token the server has already rotated away.
 */
import { autocannon, AutocannonClient, AutocannonRequest, AutocannonResult } from './deps';
import {
  openSessions,
  refreshTokenOf,
  requestGenerator,
  SCENARIOS,
  ScenarioData,
  ScenarioName,
  SessionCookie,
} from './scenarios';

export interface RunCommand {
  type: 'run';
  url: string;
  scenario: ScenarioName;
  data: ScenarioData;
  seed: number;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
}

export type WorkerCommand = RunCommand | { type: 'go' } | { type: 'exit' };

export interface LoadSummary {
  durationSeconds: number;
  /** Responses received, whatever their status. */
  completed: number;
  /** Requests written; exceeds `completed` by those in flight when the run stopped. */
  sent: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; mean: number; max: number };
  non2xx: number;
  /** Socket errors and timeouts. */
  errors: number;
  /**
   * Session scenarios: 2xx answers that set no new refresh cookie (a grace answer: the
   * connection's cookie had fallen behind its session). The measured work did not happen.
   */
  unrotated: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  bytesPerSecond: number;
}

export type WorkerMessage =
  { type: 'warm' } | { type: 'result'; summary: LoadSummary } | { type: 'error'; message: string };

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function cannon(
  command: RunCommand,
  durationSeconds: number,
  sessions: SessionCookie[] | undefined,
): Promise<LoadSummary> {
  let client = 0;
  let unrotated = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: command.url,
        connections: command.connections,
        duration: durationSeconds,
        timeout: 30,
        // Each connection gets its own request generator: its own user and its own sequence of
        // bodies/cursors. setupRequest rebuilds the request before every send.
        setupClient: (c: AutocannonClient) => {
          const session = sessions?.[client];
          const next = requestGenerator(
            command.scenario,
            command.data,
            client++,
            command.seed,
            session,
          );
          const request: AutocannonRequest = {
            setupRequest: (req) => {
              const r = next();
              req.method = r.method;
              req.path = r.path;
              req.headers = r.headers;
              req.body = r.body ?? '';
              return req;
            },
          };
          // autocannon calls onResponse before it builds the connection's next request.
          if (session) {
            request.onResponse = (status, _body, _context, headers) => {
              const name = Object.keys(headers).find((h) => h.toLowerCase() === 'set-cookie');
              const token = refreshTokenOf(name && headers[name]);
              if (token !== undefined && token !== session.token) session.token = token;
              else if (status >= 200 && status < 300) unrotated++;
            };
          }
          c.setRequests([request]);
        },
      },
      (err, result) => (err ? reject(err) : resolve(summarize(result, unrotated))),
    );
  });
}

function summarize(result: AutocannonResult, unrotated: number): LoadSummary {
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {}))
    statusCodes[code] = stats.count;
  const completed = result.requests.total;
  return {
    durationSeconds: result.duration,
    completed,
    sent: result.requests.sent,
    requestsPerSecond: completed / result.duration,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      mean: result.latency.mean,
      max: result.latency.max,
    },
    non2xx: result.non2xx,
    errors: result.errors,
    unrotated,
    timeouts: result.timeouts,
    statusCodes,
    bytesPerSecond: result.throughput.total / result.duration,
  };
}

let pendingGo: (() => void) | null = null;

/** A session per connection, for the scenarios that need one. */
function sessionsFor(command: RunCommand): Promise<SessionCookie[] | undefined> {
  return SCENARIOS[command.scenario].session
    ? openSessions(command.url, command.data, command.connections)
    : Promise.resolve(undefined);
}

async function run(command: RunCommand): Promise<void> {
  if (command.warmupSeconds > 0) {
    await cannon(command, command.warmupSeconds, await sessionsFor(command));
  }
  const sessions = await sessionsFor(command);
  const go = new Promise<void>((resolve) => (pendingGo = resolve));
  send({ type: 'warm' });
  await go;
  send({ type: 'result', summary: await cannon(command, command.durationSeconds, sessions) });
}

process.on('message', (command: WorkerCommand) => {
  if (command.type === 'run') {
    run(command).catch((err: unknown) => send({ type: 'error', message: String(err) }));
  } else if (command.type === 'go') {
    pendingGo?.();
    pendingGo = null;
  } else {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
