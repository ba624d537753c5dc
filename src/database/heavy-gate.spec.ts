import { ServiceUnavailableException } from '@nestjs/common';
import fc from 'fast-check';
import { HeavyGate } from './heavy-gate';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('HeavyGate', () => {
  it('never lets more than `limit` hold it, nor one key more than limit - 1', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c'), ms: fc.integer({ max: 3 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        async (limit, jobs) => {
          const gate = new HeavyGate(limit, 10_000);
          const holding = new Map<string, number>();
          let total = 0;
          let most = 0;
          let mostOfOne = 0;
          await Promise.all(
            jobs.map(async ({ key, ms }) => {
              const release = await gate.acquire(key);
              total += 1;
              holding.set(key, (holding.get(key) ?? 0) + 1);
              most = Math.max(most, total);
              mostOfOne = Math.max(mostOfOne, holding.get(key)!);
              await sleep(ms);
              total -= 1;
              holding.set(key, holding.get(key)! - 1);
              release();
              release(); // twice is once
            }),
          );
          expect(most).toBeLessThanOrEqual(limit);
          expect(mostOfOne).toBeLessThanOrEqual(Math.max(1, limit - 1));
          expect(gate.inUse).toBe(0);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('gives a freed place to the key holding the fewest, not to the longest queue', async () => {
    const gate = new HeavyGate(3, 10_000);
    const flood = [await gate.acquire('flood'), await gate.acquire('flood')];
    const other = await gate.acquire('other');
    const granted: string[] = [];
    const queued = [
      ...['flood', 'flood', 'flood'].map((k) => gate.acquire(k).then((r) => (granted.push(k), r))),
      gate.acquire('quiet').then((r) => (granted.push('quiet'), r)),
    ];
    other();
    await sleep(0);
    expect(granted).toEqual(['quiet']);
    flood[0]();
    await sleep(0);
    expect(granted).toEqual(['quiet', 'flood']);
    for (const release of [flood[1], ...(await Promise.all(queued.slice(0, 1)))]) release();
    await sleep(0);
    for (const release of await Promise.all(queued)) release();
    expect(gate.inUse).toBe(0);
  });

  it('answers 503 to a waiter whose wait runs out, and forgets it', async () => {
    const gate = new HeavyGate(1, 20);
    const release = await gate.acquire('a');
    await expect(gate.acquire('b')).rejects.toBeInstanceOf(ServiceUnavailableException);
    release();
    expect(gate.inUse).toBe(0);
    const again = await gate.acquire('b');
    expect(gate.inUse).toBe(1);
    again();
  });
});
