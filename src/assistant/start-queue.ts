import { Injectable } from '@nestjs/common';

/**
 * The starts of one user on this instance, one after another. They would wait for each other
 * on the user's row anyway (the start statement locks it), each holding a database connection
 * meanwhile: a burst of starts by few users took every pipelined and pooled connection (503
 * for the rest, and for the statements of running replies). The row lock still orders the
 * starts of one user across instances.
 */
@Injectable()
export class StartQueue {
  /** Per user, the end of the last start queued. */
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `start` once the user's starts queued before it are over (however they ended). */
  run<T>(userId: string, start: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(userId) ?? Promise.resolve();
    const run = previous.then(start);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(userId, settled);
    void settled.then(() => {
      if (this.tails.get(userId) === settled) this.tails.delete(userId);
    });
    return run;
  }
}
