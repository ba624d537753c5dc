import { Injectable, Logger } from '@nestjs/common';
import { RunningGenerationsRepository } from './running-generations.repository';

/**
 * Generations whose runner could not store its end (every attempt failed): still streaming
 * under this live instance's lease, so no sweep elsewhere takes them, and their room stays
 * busy until this instance ends them as failed/interrupted with the text already stored.
 * Tried at once, at every sweep until that succeeds, on a cancel, and at shutdown.
 */
@Injectable()
export class OwedEnds {
  private readonly logger = new Logger('OwedEnds');
  private readonly owed = new Set<string>();

  constructor(private readonly repository: RunningGenerationsRepository) {}

  /** Owes the end of `id`, and tries to store it at once. */
  add(id: string): void {
    this.owed.add(id);
    void this.settle([id]).catch(() => undefined);
  }

  has(id: string): boolean {
    return this.owed.has(id);
  }

  /**
   * Stores the ends of `ids` (all owed ones by default): failed/interrupted, with the text
   * flushed so far. Rejects when the database cannot be written; the ids stay owed then.
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
}
