import { Injectable, Logger } from '@nestjs/common';
import type { RunningGeneration } from './running-generation';
import { PendingText, RunningGenerationsRepository } from './running-generations.repository';

/** How often streamed text is stored: never more than about this far behind the stream. */
export const FLUSH_INTERVAL_MS = 500;

/**
 * Stores the streamed text of every generation running on this instance while it runs, in one
 * statement per interval for all of them, which also signals each one's followers on other
 * instances (GENERATION_CHANGED, on commit). A generation whose row is no longer streaming
 * (taken as an orphan by another instance's sweep) is stopped by it.
 */
@Injectable()
export class GenerationFlusher {
  private readonly logger = new Logger('GenerationFlusher');
  private readonly generations = new Set<RunningGeneration>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly repository: RunningGenerationsRepository) {}

  /** Stores its text from now on, until it ends. */
  add(generation: RunningGeneration): void {
    this.generations.add(generation);
    void generation.finished.finally(() => this.generations.delete(generation));
  }

  start(): void {
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Stores the deltas not stored yet of every generation in one statement. A generation whose
   * previous flush is still under way waits for the next interval; a failed flush is tried
   * again then with everything.
   */
  flush(): void {
    const batch: [RunningGeneration, PendingText][] = [];
    for (const generation of this.generations) {
      const pending = generation.pendingFlush();
      if (pending) batch.push([generation, pending]);
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
    for (const [generation, pending] of batch) generation.flushedBy(stored, pending);
  }
}
