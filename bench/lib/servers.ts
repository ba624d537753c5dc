/**
 * Starting and stopping the two servers under test. Both are plain `node <file>.js` children
 * (never npm or a shell in between), so the pid the harness probes is the server itself.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

export type Target = 'app' | 'floor';

export interface ServerHandle {
  target: Target;
  pid: number;
  baseUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface ServerSpec {
  target: Target;
  entry: string;
  cwd: string;
  port: number;
  env: Record<string, string>;
  logFile: string;
  startTimeoutMs: number;
}

/**
 * The servers get a clean environment (not the harness's, which under `npm run` carries dozens
 * of npm_* variables) so app and floor run with exactly the configuration the bench states.
 */
export function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'LANG', 'TZ']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

/** The built app as production runs it, for one bench client: no rate limit in the way. */
export function productionAppEnv(databaseUrl: string): Record<string, string> {
  return {
    ...baseEnv(),
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    DATABASE_URL: databaseUrl,
    JWT_SECRET: 'bench-secret-that-is-long-enough-0123456789',
    AUTH_RATE_LIMIT: '100000',
    LOG_LEVEL: 'warn',
  };
}

export async function startServer(spec: ServerSpec): Promise<ServerHandle> {
  const log = createWriteStream(spec.logFile, { flags: 'w' });
  await once(log, 'open');
  const child: ChildProcess = spawn(process.execPath, [spec.entry], {
    cwd: spec.cwd,
    env: { ...spec.env, PORT: String(spec.port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });

  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${signal ?? `code ${code}`}`));

  const baseUrl = `http://127.0.0.1:${spec.port}`;
  const deadline = Date.now() + spec.startTimeoutMs;
  for (;;) {
    if (exited !== null) {
      throw new Error(`${spec.target} ${String(exited)} during start-up; see ${spec.logFile}`);
    }
    try {
      const res = await fetch(`${baseUrl}/api/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `${spec.target} did not answer GET /api/health within ${spec.startTimeoutMs} ms; see ${spec.logFile}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  return {
    target: spec.target,
    pid: child.pid ?? 0,
    baseUrl,
    logFile: spec.logFile,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exit = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exit;
        clearTimeout(timer);
      }
      log.end();
    },
  };
}
