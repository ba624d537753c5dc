import { ChildProcess, spawn } from 'node:child_process';
import { realpath, rm } from 'node:fs/promises';
import { Agent, IncomingHttpHeaders, request } from 'node:http';
import { dirname, join, resolve } from 'node:path';
import { ROOT_HOME } from '../../src/database/embedded-postgres';
import { eventually } from './eventually';

export const ROOT = resolve(__dirname, '../..');
// Keep-alive connections, as browsers use; destroyAgent() at the end so Jest can exit.
const agent = new Agent({ keepAlive: true, maxSockets: 32 });

export function destroyAgent(): void {
  agent.destroy();
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json<T>(): T;
}

/** A small fetch() over node:http, so the sockets are ours to close. */
export function fetch(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Answer> {
  return new Promise((done, fail) => {
    const req = request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          done({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
      },
    );
    req.on('error', fail);
    req.end(init.body);
  });
}

export interface Child {
  process: ChildProcess;
  /** stdout and stderr, in order. */
  output: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

/**
 * The real entry point (src/main.ts) in a child process, exactly as `npm start` runs it but
 * from source. Without DATABASE_URL in `env` it starts an embedded PostgreSQL of its own.
 * `detached` puts it in a process group of its own, so that a test can send the group a signal
 * as a terminal's Ctrl-C does.
 */
export function startServer(
  env: Record<string, string>,
  options: { cwd?: string; detached?: boolean } = {},
): Child {
  const inherited = { ...process.env };
  delete inherited.DATABASE_URL;
  const child = spawn(
    process.execPath,
    ['--require', 'ts-node/register/transpile-only', 'src/main.ts'],
    {
      cwd: options.cwd ?? ROOT,
      env: { ...inherited, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: options.detached ?? false,
    },
  );
  const output: string[] = [];
  const stderr: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    output.push(chunk.toString());
    stderr.push(chunk.toString());
  });
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { process: child, output, stderr, exited };
}

/** A server on a port of the test's choosing, and its base URL. */
export interface AppProcess extends Child {
  base: string;
}

/** startServer() in development mode on `port`; with DATABASE_URL in `env` several share one database. */
export function startAppProcess(port: number, env: Record<string, string>): AppProcess {
  const child = startServer({ NODE_ENV: 'development', PORT: String(port), ...env });
  return { ...child, base: `http://127.0.0.1:${port}` };
}

/** Resolves once the server answers 200 on /api/health; fails at once if its process exits. */
export async function waitForHealth(base: string, child: Child, timeoutMs = 90_000): Promise<void> {
  await eventually(
    async () => {
      if (child.process.exitCode !== null) {
        throw new Error(`server exited: ${child.output.join('')}`);
      }
      return fetch(`${base}/api/health`).then(
        (r) => r.status === 200,
        () => false,
      );
    },
    { timeoutMs, intervalMs: 200, message: `${base} healthy` },
  );
}

/** Removes a DATA_DIR and, as root, the cluster its `pg` link points to under ROOT_HOME. */
export async function removeDataDir(dataDir: string): Promise<void> {
  const cluster = await realpath(join(dataDir, 'pg')).catch(() => undefined);
  if (cluster?.startsWith(`${ROOT_HOME}/`)) {
    await rm(dirname(cluster), { recursive: true, force: true });
  }
  await rm(dataDir, { recursive: true, force: true });
}
