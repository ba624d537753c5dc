import { Injectable } from '@nestjs/common';
import { GenerationChanges } from './generation-changes';
import { replayAfter, storedState, Subscriber } from './generation-events';
import { GenerationRegistry } from './generation-registry';
import { GenerationsRepository } from './generations.repository';

/** Followers on other instances re-read this often even without a signal (one may be lost). */
const FOLLOW_POLL_MS = 5000;

/**
 * Follows a generation's events for an event stream, on any instance. Where it runs, from
 * memory: each delta as it happens (RunningGeneration.subscribe). Anywhere else, from the
 * stored rows, re-read on every change signal (GenerationChanges: each flush, the end, a
 * sweep) and every FOLLOW_POLL_MS, giving the events after those already sent.
 */
@Injectable()
export class GenerationFollower {
  constructor(
    private readonly registry: GenerationRegistry,
    private readonly changes: GenerationChanges,
    private readonly generations: GenerationsRepository,
  ) {}

  /**
   * Sends the events after `after` to `sink` and follows live until `done` (then sink gets
   * null, as it does when the stream ends without one). Stored rows are re-read once the
   * sink has written what it was given. Returns the function that stops following.
   */
  follow(userId: string, id: string, after: number, sink: Subscriber): () => void {
    const local = this.registry.get(id);
    if (local && local.userId === userId) return local.subscribe(after, sink);

    let sent = after;
    let stopped = false;
    let reading = false;
    let again = false;
    const read = async () => {
      if (stopped) return;
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          // A client still taking the last replay is not given the next (nor is it read):
          // a stream that does not read holds one state, not one per change.
          await sink.idle();
          if (stopped) return;
          again = false;
          const stored = await this.generations
            .read({ generationId: id, userId })
            .catch(() => undefined);
          if (stopped) return;
          if (stored === null) return end(null);
          if (!stored) continue;
          const state = storedState(stored);
          const replay = replayAfter(state, sent);
          if (replay.last > sent) sink.replay(replay.events);
          sent = replay.last;
          // Finished: everything after `after` is sent (nothing, if the client had it all).
          if (state.done) return end(null);
        } while (again && !stopped);
      } finally {
        reading = false;
      }
    };
    const unwatch = this.changes.watch(id, () => void read());
    const poll = setInterval(() => void read(), FOLLOW_POLL_MS);
    const end = (last?: null) => {
      if (stopped) return;
      stopped = true;
      unwatch();
      clearInterval(poll);
      if (last === null) sink.next(null);
    };
    void read();
    return () => end();
  }
}
