import { ServiceUnavailableException } from '@nestjs/common';

interface Waiter {
  key: string;
  grant: () => void;
  timer: NodeJS.Timeout;
}

/**
 * At most `limit` holders at once, and at most `limit - 1` of one key (a user) when the limit
 * is above one, so that one user's burst always leaves a place to the others. A freed place
 * goes to the waiter whose key holds the fewest, the oldest first; a waiter that waits more
 * than `waitMs` gets 503 (the filter adds Retry-After). It keeps the expensive statements of
 * this process to a share of the pool, where they queue among themselves instead of in front
 * of the small ones, and one user's queue in front of nobody else's.
 */
export class HeavyGate {
  private running = 0;
  private readonly held = new Map<string, number>();
  private readonly waiting: Waiter[] = [];
  private readonly perKey: number;

  constructor(
    private readonly limit: number,
    private readonly waitMs: number,
  ) {
    this.perKey = Math.max(1, limit - 1);
  }

  get inUse(): number {
    return this.running;
  }

  /** Resolves with the release function once a place is free for `key`. */
  acquire(key: string): Promise<() => void> {
    if (this.running < this.limit && this.heldBy(key) < this.perKey) {
      return Promise.resolve(this.take(key));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        key,
        grant: () => {
          clearTimeout(waiter.timer);
          resolve(this.take(key));
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(new ServiceUnavailableException('The server is busy; try again shortly'));
        }, this.waitMs),
      };
      this.waiting.push(waiter);
    });
  }

  private heldBy(key: string): number {
    return this.held.get(key) ?? 0;
  }

  private take(key: string): () => void {
    this.running += 1;
    this.held.set(key, this.heldBy(key) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running -= 1;
      const left = this.heldBy(key) - 1;
      if (left === 0) this.held.delete(key);
      else this.held.set(key, left);
      this.grantNext();
    };
  }

  private grantNext(): void {
    if (this.running >= this.limit) return;
    let next = -1;
    for (let i = 0; i < this.waiting.length; i++) {
      const held = this.heldBy(this.waiting[i].key);
      if (held >= this.perKey) continue;
      if (next === -1 || held < this.heldBy(this.waiting[next].key)) next = i;
    }
    if (next !== -1) this.waiting.splice(next, 1)[0].grant();
  }
}
