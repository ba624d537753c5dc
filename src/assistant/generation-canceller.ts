import { Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PgPubSub, Unsubscribe } from '../database/pg-pubsub';
import { GENERATION_CANCEL } from './assistant-channels';
import { GenerationChanges } from './generation-changes';
import { GenerationRegistry } from './generation-registry';
import { GenerationsRepository } from './generations.repository';
import { ModelCatalog } from './model-catalog';
import { OwedEnds } from './owed-ends';
import { RunningGenerationsRepository } from './running-generations.repository';

/** How long a cancel waits for the instance running the generation to store its end. */
const CANCEL_WAIT_MS = 3000;

/**
 * Cancels a generation wherever it runs. Running here: its runner is stopped and its end
 * stored (status "stopped", the text so far) before the cancel answers. Running on another
 * instance: GENERATION_CANCEL is published; the canceller of the instance running it receives
 * it and stops its runner there, whose end statement signals GENERATION_CHANGED; this one
 * waits for that end (GenerationChanges) up to CANCEL_WAIT_MS. When nobody ended it, its
 * instance is gone: it is stopped here with the text it had stored.
 */
@Injectable()
export class GenerationCanceller implements OnApplicationBootstrap, OnModuleDestroy {
  private unsubscribe?: Unsubscribe;

  constructor(
    private readonly registry: GenerationRegistry,
    private readonly changes: GenerationChanges,
    private readonly owed: OwedEnds,
    private readonly pubsub: PgPubSub,
    private readonly generations: GenerationsRepository,
    private readonly running: RunningGenerationsRepository,
    private readonly catalog: ModelCatalog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.catalog.enabled) return;
    this.unsubscribe = await this.pubsub.subscribe(GENERATION_CANCEL, ({ id }) =>
      this.cancelHere(id),
    );
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
  }

  /**
   * Stops the user's generation, found streaming, and resolves once its end is stored (or the
   * wait for it is over).
   */
  async cancel(userId: string, id: string): Promise<void> {
    const local = this.registry.get(id);
    if (local) {
      local.cancel();
      await local.finished;
      // Its runner could not store the end: the smaller end is stored now, or this fails.
      if (local.endOwed) await this.owed.settle([id]);
      return;
    }
    // Another instance runs it: signal it, and wait for the end it stores.
    const ended = new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), CANCEL_WAIT_MS);
      const unwatch = this.changes.watch(id, () => {
        void this.generations.read({ generationId: id, userId }).then(
          (stored) => stored && stored.generation.status !== 'streaming' && finish(),
          () => undefined,
        );
      });
      const finish = () => {
        clearTimeout(timer);
        unwatch();
        resolve();
      };
    });
    await this.pubsub.publish(GENERATION_CANCEL, { id });
    await ended;
    // Nobody stopped it: its instance is gone. Stop it here with its stored text.
    await this.running.stopOrphan({ generationId: id });
  }

  /** A cancel signal (from any instance) for a generation this instance runs. */
  private cancelHere(id: string): void {
    this.registry.get(id)?.cancel();
    // Its runner is over but its end is not stored: the canceller waits for that end.
    if (this.owed.has(id)) void this.owed.settle([id]).catch(() => undefined);
  }
}
