import { Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { PgPubSub, Unsubscribe } from '../database/pg-pubsub';
import { GENERATION_CHANGED } from './assistant-channels';
import { ModelCatalog } from './model-catalog';

/**
 * Tells who watches a generation on this instance that its row changed on any instance (the
 * GENERATION_CHANGED signal of a flush, an end or a sweep): GenerationFollower re-reads it,
 * GenerationCanceller waits for its end. After the listening connection was lost, every
 * watcher is told (signals may have been missed meanwhile).
 */
@Injectable()
export class GenerationChanges implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly watchers = new Map<string, Set<() => void>>();
  private readonly unsubscribe: Unsubscribe[] = [];

  constructor(
    private readonly pubsub: PgPubSub,
    private readonly catalog: ModelCatalog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.catalog.enabled) return;
    this.unsubscribe.push(
      await this.pubsub.subscribe(GENERATION_CHANGED, ({ id }) => this.changed(id)),
      this.pubsub.onReconnect(() => {
        for (const id of this.watchers.keys()) this.changed(id);
      }),
    );
  }

  onModuleDestroy(): void {
    for (const unsubscribe of this.unsubscribe.splice(0)) unsubscribe();
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

  private changed(id: string): void {
    const set = this.watchers.get(id);
    if (set) for (const handler of [...set]) handler();
  }
}
