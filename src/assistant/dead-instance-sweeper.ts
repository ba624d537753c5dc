import { Injectable, Logger } from '@nestjs/common';
import { PgPubSub } from '../database/pg-pubsub';
import { GENERATION_CHANGED } from './assistant-channels';
import { EventStreamSlots } from './event-stream-slots';
import { InstanceLease } from '../database/instance-lease';
import { OwedEnds } from './owed-ends';
import { RunningGenerationsRepository } from './running-generations.repository';

/** How often any instance looks for generations whose instance died (the contract: 30 s). */
export const SWEEP_INTERVAL_MS = 5000;

/**
 * Ends what instances that died left behind, from any live instance: their streaming
 * generations become failed/interrupted with the text they had stored (their followers are
 * signalled), and their event-stream rows are deleted. An instance is dead when its lease
 * (InstanceLease) is no longer held. Also retries the ends this instance owes (OwedEnds).
 */
@Injectable()
export class DeadInstanceSweeper {
  private readonly logger = new Logger('DeadInstanceSweeper');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repository: RunningGenerationsRepository,
    private readonly pubsub: PgPubSub,
    private readonly lease: InstanceLease,
    private readonly owed: OwedEnds,
    private readonly slots: EventStreamSlots,
  ) {}

  /**
   * Sweeps at once, this instance's old rows included (a single instance that restarts finds
   * its old generations orphaned), then every SWEEP_INTERVAL_MS.
   */
  async start(): Promise<void> {
    await this.sweep(true);
    this.timer = setInterval(() => void this.sweep(), SWEEP_INTERVAL_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Generations and event-stream rows of dead instances; `atStart`: also this one's old rows. */
  async sweep(atStart = false): Promise<void> {
    await this.owed.settle().catch(() => undefined);
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
}
