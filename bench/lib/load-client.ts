/**
 * The harness side of the load worker (lib/load-worker.ts): forks it once and drives it run by
 * run over IPC.
 */
import { ChildProcess, fork } from 'node:child_process';
import { LoadSummary, RunCommand, WorkerCommand, WorkerMessage } from './load-worker';

export class LoadClient {
  private readonly child: ChildProcess;
  private waiting: ((message: WorkerMessage) => void) | null = null;

  constructor(script: string, nodePath: string) {
    // execArgv: [] — under ts-node, process.execArgv carries ts-node itself, which fork() would
    // otherwise pass on; the worker is already plain JavaScript, compiled outside the repository
    // (NODE_PATH: where it finds autocannon).
    this.child = fork(script, [], {
      execArgv: [],
      env: { ...process.env, NODE_PATH: nodePath },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: WorkerMessage) => {
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.(message);
    });
  }

  /**
   * Warm-up (if any), then `between()` — the harness waits for the server to go quiet and takes
   * its counters — then the measured run, whose summary is returned.
   */
  async run(command: RunCommand, between: () => Promise<void>): Promise<LoadSummary> {
    const warm = this.next();
    this.send(command);
    await warm;
    await between();
    const result = this.next();
    this.send({ type: 'go' });
    const message = await result;
    if (message.type !== 'result') throw new Error(`load worker: unexpected ${message.type}`);
    return message.summary;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ type: 'exit' });
    await exited;
  }

  private next(): Promise<WorkerMessage> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the load worker exited unexpectedly'));
      this.child.once('exit', onExit);
      this.waiting = (message) => {
        this.child.off('exit', onExit);
        if (message.type === 'error') reject(new Error(`load worker: ${message.message}`));
        else resolve(message);
      };
    });
  }

  private send(command: WorkerCommand): void {
    this.child.send(command);
  }
}
