import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, ClientConfig, QueryResult } from 'pg';
import { PipelinedConnections } from '../../src/database/pipelined-connections';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';

/** The pipelined connections against a real PostgreSQL (no HTTP: this is the layer under Sql). */
describe('pipelined connections (e2e)', () => {
  let db: { url: string; drop(): Promise<void> };
  let admin: Client;
  const open: PipelinedConnections[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    admin = new Client({ connectionString: db.url });
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(open.map((p) => p.close()));
    await admin.end();
    await db.drop();
  });

  async function connected(
    options: Partial<ConstructorParameters<typeof PipelinedConnections>[1]> = {},
    config: ClientConfig = {},
  ): Promise<PipelinedConnections> {
    const pipeline = new PipelinedConnections(
      { connectionString: db.url, ...config },
      { connections: 1, ...options },
    );
    open.push(pipeline);
    pipeline.open();
    await until(() => pipeline.query({ text: 'SELECT 1' }));
    return pipeline;
  }

  /** Retries `attempt` until a pipelined connection takes it. */
  function until(attempt: () => Promise<QueryResult> | undefined): Promise<QueryResult> {
    return eventually(attempt, { intervalMs: 20, message: 'a pipelined connection up' });
  }

  /**
   * Date.now(), the clock the connections judge a stall by, stopped; `advance` moves it. The
   * statements a test wants stuck wait on `HELD` (lockHeld()), so no real time decides whether
   * they are answered before a check.
   */
  function stoppedClock(): { advance(ms: number): void; restore(): void } {
    let now = Date.now();
    const spy = jest.spyOn(Date, 'now').mockImplementation(() => now);
    return { advance: (ms) => (now += ms), restore: () => spy.mockRestore() };
  }
  const HELD = 'SELECT pg_advisory_xact_lock(42, 0)';
  /** Holds the lock that HELD waits for, on the admin's connection; the function lets go. */
  async function lockHeld(): Promise<() => Promise<void>> {
    await admin.query('SELECT pg_advisory_lock(42, 0)');
    let held = true;
    return async () => {
      if (held) await admin.query('SELECT pg_advisory_unlock(42, 0)');
      held = false;
    };
  }

  const backendPid = async (pipeline: PipelinedConnections) =>
    (await pipeline.query({ text: 'SELECT pg_backend_pid() AS pid' })!).rows[0].pid as number;

  it('sends the statements of one turn of the event loop in one write, each with its answer', async () => {
    const pipeline = await connected();
    const writes = [
      jest.spyOn(Socket.prototype as unknown as { _write: () => void }, '_write'),
      jest.spyOn(Socket.prototype as unknown as { _writev: () => void }, '_writev'),
    ];
    try {
      const pending = Array.from({ length: 20 }, (_, i) =>
        pipeline.query({ name: 'echo', text: 'SELECT $1::int AS n', values: [i] }),
      );
      expect(pending.every(Boolean)).toBe(true);
      const results = await Promise.all(pending as Promise<QueryResult>[]);
      expect(results.map((r) => r.rows[0].n)).toEqual([...Array(20).keys()]);
      expect(writes.reduce((sum, spy) => sum + spy.mock.calls.length, 0)).toBe(1);
    } finally {
      writes.forEach((spy) => spy.mockRestore());
    }
  });

  it('fails a statement alone: the ones around it still succeed', async () => {
    const pipeline = await connected();
    const outcomes = await Promise.allSettled([
      pipeline.query({ text: 'SELECT 1 AS n' })!,
      pipeline.query({ text: 'SELECT 1 / 0 AS n' })!,
      pipeline.query({ text: 'SELECT 3 AS n' })!,
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: '22012' });
    expect((outcomes[2] as PromiseFulfilledResult<QueryResult>).value.rows).toEqual([{ n: 3 }]);
  });

  it('hands over to the pool while a lost connection is replaced, then reconnects', async () => {
    const errors: Error[] = [];
    const pipeline = await connected({ retryDelayMs: 200, onError: (e) => errors.push(e) });
    const before = await backendPid(pipeline);

    await admin.query('SELECT pg_terminate_backend($1)', [before]);
    await eventually(() => errors.length > 0, { intervalMs: 20, message: 'the loss reported' });
    expect(errors).toMatchObject([{ code: '57P01' }]);
    expect(pipeline.query({ text: 'SELECT 1' })).toBeUndefined();

    const after = (await until(() => pipeline.query({ text: 'SELECT pg_backend_pid() AS pid' })))
      .rows[0].pid as number;
    expect(after).not.toBe(before);
  });

  it('takes at most maxInFlight statements per connection, spread over the least busy', async () => {
    const pipeline = await connected({ connections: 2, maxInFlight: 2 });
    const pids = () =>
      Array.from({ length: 5 }, () =>
        pipeline.query({ text: 'SELECT pg_backend_pid() AS pid, pg_sleep(0.02)' }),
      );
    let pending = pids();
    // Until the second connection is up, the first takes what it has room for.
    const taken = () => pending.filter((p): p is Promise<QueryResult> => p !== undefined);
    await eventually(
      async () => {
        if (taken().length >= 4) return true;
        await Promise.all(taken());
        pending = pids();
        return false;
      },
      { intervalMs: 0, message: 'both connections up' },
    );
    expect(pending.map(Boolean)).toEqual([true, true, true, true, false]);
    expect(pipeline.inFlight).toBe(4);
    const served = (await Promise.all(taken())).map((r) => r.rows[0].pid as number);
    expect(new Set(served).size).toBe(2);
    expect(served[0]).toBe(served[2]);
    expect(served[1]).toBe(served[3]);
    expect(pipeline.inFlight).toBe(0);
  });

  it('gives a connection stuck behind a long statement nothing more until it is answered', async () => {
    const pipeline = await connected({ stallMs: 50 });
    const release = await lockHeld();
    const clock = stoppedClock();
    try {
      const long = pipeline.query({ text: HELD });
      const behind = pipeline.query({ text: 'SELECT 2 AS n' });
      expect([long, behind].every(Boolean)).toBe(true);
      clock.advance(120);
      expect(pipeline.query({ text: 'SELECT 3 AS n' })).toBeUndefined();
      await release();
      await long;
      expect((await behind)!.rows).toEqual([{ n: 2 }]);
      expect((await pipeline.query({ text: 'SELECT 4 AS n' }))!.rows).toEqual([{ n: 4 }]);
    } finally {
      clock.restore();
      await release();
    }
  });

  it('takes statements past its limits when the pool is full, while its oldest moves', async () => {
    const pipeline = await connected({ maxInFlight: 2, stallMs: 50, overflowStallMs: 300 });
    const release = await lockHeld();
    const clock = stoppedClock();
    try {
      const slow = [1, 2].map(() => pipeline.query({ text: HELD })!);
      expect(slow.every(Boolean)).toBe(true);
      const poolFull = () => true;
      // Full: the pool takes it, unless the pool is full too.
      expect(pipeline.query({ text: 'SELECT 1' })).toBeUndefined();
      expect(pipeline.query({ text: 'SELECT 1' }, () => false)).toBeUndefined();
      const over = pipeline.query({ text: 'SELECT 3 AS n' }, poolFull);
      expect(over).toBeDefined();
      clock.advance(120);
      // Stalled for the normal rule, still moving for the overflow rule.
      expect(pipeline.query({ text: 'SELECT 1' })).toBeUndefined();
      const late = pipeline.query({ text: 'SELECT 4 AS n' }, poolFull);
      expect(late).toBeDefined();
      clock.advance(250);
      // Its oldest has waited past overflowStallMs: stuck, whatever the pool.
      expect(pipeline.query({ text: 'SELECT 1' }, poolFull)).toBeUndefined();
      await release();
      await Promise.all(slow);
      expect((await over)!.rows).toEqual([{ n: 3 }]);
      expect((await late)!.rows).toEqual([{ n: 4 }]);
      expect(pipeline.inFlight).toBe(0);
    } finally {
      clock.restore();
      await release();
    }
  });

  it('opens nothing again once closed', async () => {
    const name = 'pipeline-closed';
    const pipeline = await connected({ retryDelayMs: 0 }, { application_name: name });
    await pipeline.close();
    // The first statement after the close would reopen a lost connection at once.
    expect(pipeline.query({ text: 'SELECT 1' })).toBeUndefined();
    // Nothing happens, so there is nothing to wait for: a connection opened again would be up
    // well within this.
    await sleep(100);
    expect(pipeline.query({ text: 'SELECT 1' })).toBeUndefined();
    // Its session ends (a moment after its client has left), and no other was opened.
    await eventually(
      async () => {
        const { rows } = await admin.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1',
          [name],
        );
        return rows[0].n === 0;
      },
      { message: `no session named ${name}` },
    );
  });
});
