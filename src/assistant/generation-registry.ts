import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { DeadInstanceSweeper } from './dead-instance-sweeper';
import { EventStreamSlots } from './event-stream-slots';
import type { StreamState } from './generation-events';
import { GenerationFlusher } from './generation-flusher';
import { GenerationRunner } from './generation-runner';
import { InstanceLease } from '../database/instance-lease';
import { ModelCatalog } from './model-catalog';
import { OwedEnds } from './owed-ends';
import type { RunningGeneration } from './running-generation';

/** A finished generation stays this long, so late readers on this instance replay from memory. */
const KEEP_FINISHED_MS = 30_000;

/**
 * The generations this instance runs, by id, and the assistant's life on this instance: at
 * start-up its lease (InstanceLease), the sweep for dead instances (DeadInstanceSweeper) and
 * the flushes of streamed text (GenerationFlusher); at shutdown the drain. Each generation is
 * run by GenerationRunner; what connects it to the other instances is in
 * GenerationCanceller (cancels), GenerationChanges and GenerationFollower (its events).
 */
@Injectable()
export class GenerationRegistry implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('GenerationRegistry');
  private readonly generations = new Map<string, RunningGeneration>();
  private draining: Promise<void> | null = null;

  constructor(
    private readonly runner: GenerationRunner,
    private readonly flusher: GenerationFlusher,
    private readonly sweeper: DeadInstanceSweeper,
    private readonly owed: OwedEnds,
    private readonly lease: InstanceLease,
    private readonly slots: EventStreamSlots,
    private readonly catalog: ModelCatalog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.catalog.enabled) return;
    await this.lease.acquire();
    await this.sweeper.start();
    this.flusher.start();
  }

  get(id: string): RunningGeneration | undefined {
    return this.generations.get(id);
  }

  /** Runs a generation whose start is committed; from here on only its runner ends it. */
  run(init: { state: StreamState; userId: string; mayTitle: boolean }): RunningGeneration {
    const generation = this.runner.run(init);
    this.generations.set(generation.id, generation);
    this.flusher.add(generation);
    void generation.finished.finally(() => {
      setTimeout(() => this.generations.delete(generation.id), KEEP_FINISHED_MS).unref();
      if (generation.endOwed) this.owed.add(generation.id);
    });
    return generation;
  }

  /**
   * SIGTERM: running generations may finish until `deadline` (ms from now); the rest are
   * stopped and stored with all their text as failed/interrupted. Then open event streams
   * are ended. Safe to call twice.
   */
  drain(deadlineMs: number): Promise<void> {
    this.draining ??= (async () => {
      this.sweeper.stop();
      const running = [...this.generations.values()].filter((generation) => generation.running);
      if (running.length > 0) {
        this.logger.log(`Waiting up to ${deadlineMs} ms for ${running.length} generation(s)`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(running.map((generation) => generation.finished)),
          new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadlineMs)))),
        ]);
        clearTimeout(timer);
        for (const generation of running) generation.interrupt();
        await Promise.all(running.map((generation) => generation.finished));
      }
      await this.owed.settle().catch(() => undefined);
      this.flusher.stop();
      this.slots.endAll();
    })();
    return this.draining;
  }

  /** An app closed without SIGTERM (tests): nothing waits. */
  async onModuleDestroy(): Promise<void> {
    await this.drain(0);
  }
}
