import { ChildProcess, spawn } from 'node:child_process';
import { get } from 'node:http';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(__dirname, '../..');

export interface AppProcess {
  process: ChildProcess;
  base: string;
  output: string[];
  exited: Promise<number | null>;
}

/**
 * The real entry point (src/main.ts) in a child process, as `npm start` runs it but from
 * source. With DATABASE_URL in `env` several processes share one database.
 */
export function startAppProcess(port: number, env: Record<string, string>): AppProcess {
  const child = spawn(
    process.execPath,
    ['--require', 'ts-node/register/transpile-only', 'src/main.ts'],
    {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'development', PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const output: string[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { process: child, base: `http://127.0.0.1:${port}`, output, exited };
}

function healthy(base: string): Promise<boolean> {
  return new Promise((done) => {
    const req = get(`${base}/api/health`, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
  });
}

export async function waitForHealth(app: AppProcess, timeoutMs = 90_000): Promise<void> {
  for (let waited = 0; waited < timeoutMs; waited += 200) {
    if (app.process.exitCode !== null) throw new Error(`server exited: ${app.output.join('')}`);
    if (await healthy(app.base)) return;
    await sleep(200);
  }
  throw new Error('server did not become healthy');
}
