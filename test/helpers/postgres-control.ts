import { ChildProcess, fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './net';

type Reply = { started: string } | 'stopped' | { error: string };

/** A PostgreSQL of a test's own that it can stop and start under a running app. */
export class ControlledPostgres {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  url = '';

  static async create(database: string): Promise<ControlledPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'chat-controlled-pg-'));
    const child = fork(
      join(__dirname, 'postgres-process.ts'),
      [join(dir, 'pg'), String(await freePort()), database],
      { execArgv: ['--require', 'ts-node/register/transpile-only'], stdio: 'inherit' },
    );
    const pg = new ControlledPostgres(child, dir);
    await pg.start();
    return pg;
  }

  private request(message: 'start' | 'stop' | 'exit'): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the PostgreSQL control process exited'));
      this.child.once('exit', onExit);
      this.child.once('message', (reply: Reply) => {
        this.child.off('exit', onExit);
        if (typeof reply === 'object' && 'error' in reply) reject(new Error(reply.error));
        else resolve(reply);
      });
      this.child.send(message);
    });
  }

  async start(): Promise<void> {
    const reply = await this.request('start');
    if (typeof reply === 'object' && 'started' in reply) this.url = reply.started;
  }

  async stop(): Promise<void> {
    await this.request('stop');
  }

  async destroy(): Promise<void> {
    if (this.child.connected) await this.request('exit').catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}
