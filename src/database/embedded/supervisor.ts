import { ChildProcess, spawn } from 'node:child_process';
import { Account } from './root-safe-directory';
import { ServerOutput } from './server-output';

/** How PostgreSQL's programs are run. */
export interface Launch {
  /** The system user to run them as (when we are root); else they run as we do. */
  account?: Account;
  /** A working directory they can enter (the app's may be /root/...). */
  cwd: string;
  /** LC_MESSAGES: their output is read for readiness and for the failure's remedy. */
  locale: string;
  /** Where their output is kept. */
  output: ServerOutput;
}

export function spawnAs(file: string, args: string[], launch: Launch): ChildProcess {
  const child = spawn(file, args, {
    ...launch.account,
    cwd: launch.cwd,
    env: { ...process.env, LC_MESSAGES: launch.locale },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Read to the end: a full pipe would block the server's logging.
  child.stdout?.on('data', launch.output.remember);
  child.stderr?.on('data', launch.output.remember);
  return child;
}

export interface ServerSettings {
  dataDir: string;
  port: number;
  durable: boolean;
}

export interface RunningServer {
  /** Fast shutdown (clients are disconnected, committed data is kept); safe to call twice. */
  stop(): Promise<void>;
}

/** Resolves once the server accepts connections; rejects, in one line, if it never does. */
function untilReady(server: ChildProcess, output: ServerOutput): Promise<void> {
  return new Promise<void>((done, fail) => {
    const onData = (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('database system is ready to accept connections')) {
        cleanUp();
        done();
      }
    };
    const onError = (error: NodeJS.ErrnoException) => {
      cleanUp();
      fail(output.notRunnable('did not start', 'postgres', error));
    };
    const onExit = () => {
      cleanUp();
      fail(output.failure('did not start'));
    };
    const timer = setTimeout(() => {
      cleanUp();
      server.kill('SIGKILL');
      fail(output.failure('did not start within 60 s'));
    }, 60_000);
    const cleanUp = () => {
      clearTimeout(timer);
      server.stderr?.off('data', onData);
      server.off('error', onError);
      server.off('exit', onExit);
    };
    server.stderr?.on('data', onData);
    server.on('error', onError);
    server.on('exit', onExit);
  });
}

/**
 * Runs the server on an existing cluster, listening on 127.0.0.1 only, until stop() or until
 * this process exits. Throwaway clusters (not durable) trade crash safety for speed.
 */
export async function startServer(
  postgres: string,
  settings: ServerSettings,
  launch: Launch,
): Promise<RunningServer> {
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'];
  if (!settings.durable) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  launch.output.clear();
  const server = spawnAs(
    postgres,
    ['-D', settings.dataDir, '-p', String(settings.port), ...flags],
    launch,
  );
  const exited = new Promise<void>((done) => server.once('exit', () => done()));
  await untilReady(server, launch.output);
  // Errors after the start (none expected) must not become an unhandled 'error' event.
  server.on('error', () => undefined);

  // If the process dies without stop(), at least ask the server to shut down with it.
  const onExit = () => server.kill('SIGINT');
  process.once('exit', onExit);

  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', onExit);
      // Already gone, e.g. when a terminal's Ctrl-C reached the whole process group.
      if (server.exitCode !== null || server.signalCode !== null) return;
      server.kill('SIGINT');
      await exited;
    },
  };
}
