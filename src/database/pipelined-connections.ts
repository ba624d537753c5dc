import { Socket } from 'node:net';
import { Client, ClientConfig, QueryConfig, QueryResult } from 'pg';

export interface PipelineOptions {
  /** How many pipelined connections to keep (0: none; every statement uses the pool). */
  connections: number;
  /** Most statements a connection carries at once; past that, statements go to the pool. */
  maxInFlight?: number;
  /**
   * A connection whose oldest statement has waited this long takes no more until it is answered:
   * it is stuck behind a lock or a long statement, which must not hold up the statements of
   * other requests (the pool serves them meanwhile).
   */
  stallMs?: number;
  /**
   * When the pool has no connection to spare, a connection still takes statements, past
   * maxInFlight and stallMs, while its oldest has waited less than this: it is moving, and a
   * burst of requests queued on it is served sooner than one queued for the pool (whose wait
   * ends in 503 at the connect timeout).
   */
  overflowStallMs?: number;
  /** After a connection fails, how long before it is tried again (the pool serves meanwhile). */
  retryDelayMs?: number;
  /** Told when a connection that was serving is lost, or a reconnect fails. */
  onError?: (error: Error) => void;
}

/**
 * One connection in node-postgres' pipeline mode: statements are sent without waiting for the
 * answers to earlier ones, each with its own Sync, so each is its own transaction and fails
 * alone. The statements of one turn of the event loop are corked into one write: PostgreSQL
 * reads them in one go and answers them in one go, instead of a send, a wake-up and a reply
 * per statement.
 */
class Lane {
  /** When each statement in flight was sent, oldest first (PostgreSQL answers in order). */
  private readonly sentAt: number[] = [];
  private client: Client | undefined;
  private socket: Socket | undefined;
  private ready = false;
  private corked = false;
  private retryAt = 0;
  private closed = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly limits: Required<Omit<PipelineOptions, 'connections'>>,
  ) {}

  get inFlight(): number {
    return this.sentAt.length;
  }

  /** Connected, not full and not stalled. A lost or never-opened connection is (re)opened here. */
  canTake(now: number): boolean {
    if (this.ready) {
      const { sentAt } = this;
      return (
        sentAt.length === 0 ||
        (sentAt.length < this.limits.maxInFlight && now - sentAt[0] < this.limits.stallMs)
      );
    }
    if (!this.client && !this.closed && now >= this.retryAt) this.open();
    return false;
  }

  /** Connected and moving: its oldest statement has waited less than overflowStallMs. */
  canOverflow(now: number): boolean {
    const { sentAt } = this;
    return this.ready && (sentAt.length === 0 || now - sentAt[0] < this.limits.overflowStallMs);
  }

  async query(config: QueryConfig, now: number): Promise<QueryResult> {
    const client = this.client as Client;
    if (!this.corked && this.socket) {
      const socket = this.socket;
      this.corked = true;
      socket.cork();
      // setImmediate, not nextTick: the requests that arrived in this turn of the event loop
      // each run to their statement first, then the check phase sends them all at once.
      setImmediate(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    this.sentAt.push(now);
    try {
      return await client.query(config);
    } finally {
      this.sentAt.shift();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const client = this.client;
    this.client = undefined;
    this.ready = false;
    await client?.end().catch(() => undefined);
  }

  private open(): void {
    const client = new Client({
      ...this.config,
      pipeline: true,
      stream: () => (this.socket = new Socket()),
    });
    this.client = client;
    // Statements in flight fail with the connection ('Connection terminated unexpectedly'),
    // which the exception filter answers with 503, as it does for the pool.
    client.on('error', (error: Error) => {
      if (this.client === client) this.limits.onError(error);
      this.retire(client);
    });
    client.on('end', () => this.retire(client));
    client.connect().then(
      () => {
        if (this.client === client) this.ready = true;
      },
      (error: Error) => {
        if (this.client === client) this.limits.onError(error);
        this.retire(client);
      },
    );
  }

  private retire(client: Client | undefined): void {
    if (!client || this.client !== client) return;
    this.client = undefined;
    this.socket = undefined;
    this.ready = false;
    this.retryAt = Date.now() + this.limits.retryDelayMs;
    void client.end().catch(() => undefined);
  }
}

/**
 * A few pipelined connections beside the pool, for the single statements of the hot path (Sql):
 * under load, the statements of concurrent requests share writes and round trips. Statements go
 * to the least busy connection that is up, not full and not stalled, and to the pool otherwise,
 * so the pool's limits and connect timeout still apply when PostgreSQL is slow or down.
 */
export class PipelinedConnections {
  private readonly lanes: Lane[];

  constructor(config: ClientConfig, options: PipelineOptions) {
    const limits = {
      maxInFlight: options.maxInFlight ?? 64,
      stallMs: options.stallMs ?? 50,
      overflowStallMs: options.overflowStallMs ?? 1000,
      retryDelayMs: options.retryDelayMs ?? 1000,
      onError: options.onError ?? (() => undefined),
    };
    this.lanes = Array.from({ length: options.connections }, () => new Lane(config, limits));
  }

  /** Opens the connections now rather than at the first statement. */
  open(): void {
    const now = Date.now();
    for (const lane of this.lanes) lane.canTake(now);
  }

  /**
   * Runs the statement on a pipelined connection; undefined when none can take it now.
   * `poolFull` tells whether the pool has no connection to spare (asked only when every
   * pipelined connection is full or stalled): then one that is still moving takes it anyway.
   */
  query(config: QueryConfig, poolFull?: () => boolean): Promise<QueryResult> | undefined {
    const now = Date.now();
    let best: Lane | undefined;
    for (const lane of this.lanes) {
      if (lane.canTake(now) && (!best || lane.inFlight < best.inFlight)) best = lane;
    }
    if (!best && poolFull?.()) {
      for (const lane of this.lanes) {
        if (lane.canOverflow(now) && (!best || lane.inFlight < best.inFlight)) best = lane;
      }
    }
    return best?.query(config, now);
  }

  get inFlight(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.inFlight, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }
}
