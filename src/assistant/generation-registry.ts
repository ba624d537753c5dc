import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PgPubSub, Unsubscribe } from '../database/pg-pubsub';
import { GENERATION_CANCEL, GENERATION_CHANGED } from './assistant-channels';
import { GenerationRunner, PendingFlush, RunnerInit } from './generation-runner';
import { RunningGenerationsRepository } from './running-generations.repository';
import { EventStreamSlots } from './event-stream-slots';
import { InstanceLease } from './instance-lease';
import { ModelCatalog } from './model-catalog';
import { ModelClient } from './model-client';

/** How often streamed text is stored: never more than about this far behind the stream. */
export const FLUSH_INTERVAL_MS = 500;
/** How often any instance looks for generations whose instance died (the contract: 30 s). */
export const SWEEP_INTERVAL_MS = 5000;
/** A finished runner stays this long, so late readers on this instance replay from memory. */
const KEEP_FINISHED_MS = 30_000;

/**
 * The generations this instance runs, and what connects them to the others: their streamed
 * text stored in one statement per interval for all of them, cancel signals arriving for a
 * runner here, change signals for streams followed here, the sweep for generations of dead
 * instances, and the drain at shutdown.
 */
@Injectable()
export class GenerationRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GenerationRegistry');
  private readonly runners = new Map<string, GenerationRunner>();
  private readonly watchers = new Map<string, Set<() => void>>();
  /** Open event streams, ended at shutdown (their clients resume on another instance). */
  private readonly streams = new Set<() => void>();
  private readonly unsubscribe: Unsubscribe[] = [];
  private sweeper?: NodeJS.Timeout;
  private flusher?: NodeJS.Timeout;
  private draining: Promise<void> | null = null;
  /**
   * Generations whose runner ended without storing its end: still streaming under this live
   * instance's lease, so no sweep elsewhere takes them. Ended here (settle) at once, at every
   * sweep until that succeeds, on a cancel, and at shutdown.
   */
  private readonly owed = new Set<string>();

  constructor(
    private readonly repository: RunningGenerationsRepository,
    private readonly pubsub: PgPubSub,
    private readonly lease: InstanceLease,
    private readonly catalog: ModelCatalog,
    private readonly model: ModelClient,
    private readonly slots: EventStreamSlots,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.catalog.enabled) return;
    await this.lease.acquire();
    this.unsubscribe.push(
      await this.pubsub.subscribe(GENERATION_CANCEL, ({ id }) => this.cancelHere(id)),
      await this.pubsub.subscribe(GENERATION_CHANGED, ({ id }) => this.changed(id)),
      this.pubsub.onReconnect(() => {
        for (const id of this.watchers.keys()) this.changed(id);
      }),
    );
    // At start-up at once: a single instance that restarts finds its old generations orphaned.
    await this.sweep(true);
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
    this.flusher = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  get instanceKey(): number {
    return this.lease.key;
  }

  get(id: string): GenerationRunner | undefined {
    return this.runners.get(id);
  }

  run(init: RunnerInit): GenerationRunner {
    const runner = new GenerationRunner(
      { repository: this.repository, model: this.model, config: this.catalog.config },
      init,
    );
    this.runners.set(runner.id, runner);
    void runner.finished.finally(() => {
      setTimeout(() => this.runners.delete(runner.id), KEEP_FINISHED_MS).unref();
      if (runner.endOwed) {
        this.owed.add(runner.id);
        void this.settle([runner.id]).catch(() => undefined);
      }
    });
    return runner;
  }

  /** A cancel signal (from any instance) for a generation of this one. */
  private cancelHere(id: string): void {
    this.runners.get(id)?.cancel();
    // Its runner is over but its end is not stored: the canceller waits for that end.
    if (this.owed.has(id)) void this.settle([id]).catch(() => undefined);
  }

  /**
   * Stores the end the runners of `ids` could not: failed/interrupted, with the text they
   * had flushed. Rejects when the database cannot be written; the ids stay owed then.
   */
  async settle(ids: string[] = [...this.owed]): Promise<void> {
    if (ids.length === 0) return;
    try {
      const ended = await this.repository.abandon({ ids });
      for (const id of ids) this.owed.delete(id);
      for (const id of ended) {
        this.logger.warn({
          msg: 'Generation ended as interrupted after its end store failed',
          generationId: id,
        });
      }
    } catch (error) {
      this.logger.warn({
        msg: 'Ending generations whose end store failed did not succeed',
        generations: ids.length,
        errType: (error as Error)?.name,
      });
      throw error;
    }
  }

  /** Calls `handler` whenever the generation's row changed (any instance). */
  watch(id: string, handler: () => void): Unsubscribe {
    let set = this.watchers.get(id);
    if (!set) this.watchers.set(id, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0) this.watchers.delete(id);
    };
  }

  /** Registers an open event stream; `end` is called at shutdown. */
  track(end: () => void): Unsubscribe {
    this.streams.add(end);
    return () => this.streams.delete(end);
  }

  changed(id: string): void {
    const set = this.watchers.get(id);
    if (set) for (const handler of [...set]) handler();
  }

  async publishCancel(id: string): Promise<void> {
    await this.pubsub.publish(GENERATION_CANCEL, { id });
  }

  /**
   * Stores the deltas not stored yet of every runner here in one statement, which also
   * signals each stored generation's followers. A runner whose previous flush is still under
   * way waits for the next interval; a failed flush is tried again then with everything.
   */
  flush(): void {
    const batch: [GenerationRunner, PendingFlush][] = [];
    for (const runner of this.runners.values()) {
      const pending = runner.pendingFlush();
      if (pending) batch.push([runner, pending]);
    }
    if (batch.length === 0) return;
    const stored = this.repository.flush(batch.map(([, pending]) => pending));
    stored.catch((error: unknown) =>
      this.logger.warn({
        msg: 'Flush failed',
        generations: batch.length,
        errType: (error as Error)?.name,
      }),
    );
    for (const [runner, pending] of batch) runner.flushedBy(stored, pending);
  }

  /** Generations and event-stream rows of dead instances; `atStart`: also this one's old rows. */
  async sweep(atStart = false): Promise<void> {
    await this.settle().catch(() => undefined);
    try {
      const swept = await this.repository.sweepOrphans({ instanceKey: this.lease.key });
      for (const id of swept) {
        this.logger.warn({
          msg: 'Generation of a stopped instance marked interrupted',
          generationId: id,
        });
        await this.pubsub.publish(GENERATION_CHANGED, { id });
      }
    } catch (error) {
      this.logger.warn({
        msg: 'Sweep for orphaned generations failed',
        errType: (error as Error)?.name,
      });
    }
    await this.slots.sweep(atStart);
  }

  /**
   * SIGTERM: running generations may finish until `deadline` (ms from now); the rest are
   * stopped and stored with all their text as failed/interrupted. Then open event streams
   * are ended. Safe to call twice.
   */
  drain(deadlineMs: number): Promise<void> {
    this.draining ??= (async () => {
      clearInterval(this.sweeper);
      const running = [...this.runners.values()].filter((runner) => runner.running);
      if (running.length > 0) {
        this.logger.log(`Waiting up to ${deadlineMs} ms for ${running.length} generation(s)`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(running.map((runner) => runner.finished)),
          new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs)))),
        ]);
        clearTimeout(timer);
        for (const runner of running) runner.interrupt();
        await Promise.all(running.map((runner) => runner.finished));
      }
      await this.settle().catch(() => undefined);
      clearInterval(this.flusher);
      for (const end of [...this.streams]) end();
      for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
    })();
    return this.draining;
  }

  /** An app closed without SIGTERM (tests): nothing waits. */
  async onModuleDestroy(): Promise<void> {
    await this.drain(0);
  }
}
