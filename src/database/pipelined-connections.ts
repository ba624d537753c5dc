import { Socket } from 'node:net';
import { Client, ClientConfig, QueryConfig, QueryResult } from 'pg';

export interface PipelineOptions {
  /** How many pipelined connections to keep (0: none; every statement uses the pool). */
  connections: number;
  /** Most statements a connection carries at once; past that, statements go to the pool. */
  maxInFlight?: number;
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
  inFlight = 0;
  private client: Client | undefined;
  private socket: Socket | undefined;
  private ready = false;
  private corked = false;
  private retryAt = 0;
  private closed = false;

  constructor(
    private readonly config: ClientConfig,
    private readonly retryDelayMs: number,
    private readonly onError: (error: Error) => void,
  ) {}

  /** Connected and below `limit`. A lost or never-opened connection is (re)opened here. */
  canTake(limit: number): boolean {
    if (this.ready) return this.inFlight < limit;
    if (!this.client && !this.closed && Date.now() >= this.retryAt) this.open();
    return false;
  }

  async query(config: QueryConfig): Promise<QueryResult> {
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
    this.inFlight++;
    try {
      return await client.query(config);
    } finally {
      this.inFlight--;
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
      if (this.client === client) this.onError(error);
      this.retire(client);
    });
    client.on('end', () => this.retire(client));
    client.connect().then(
      () => {
        if (this.client === client) this.ready = true;
      },
      (error: Error) => {
        if (this.client === client) this.onError(error);
        this.retire(client);
      },
    );
  }

  private retire(client: Client | undefined): void {
    if (!client || this.client !== client) return;
    this.client = undefined;
    this.socket = undefined;
    this.ready = false;
    this.retryAt = Date.now() + this.retryDelayMs;
    void client.end().catch(() => undefined);
  }
}

/**
 * A few pipelined connections beside the pool, for the short statements of the hot path: under
 * load, the statements of concurrent requests share writes and round trips. Statements go to
 * the least busy connection that is up and has room, and to the pool otherwise, so the pool's
 * limits and connect timeout still apply when PostgreSQL is slow or down.
 */
export class PipelinedConnections {
  private readonly lanes: Lane[];
  private readonly maxInFlight: number;

  constructor(config: ClientConfig, options: PipelineOptions) {
    const onError = options.onError ?? (() => undefined);
    const retryDelayMs = options.retryDelayMs ?? 1000;
    this.maxInFlight = options.maxInFlight ?? 64;
    this.lanes = Array.from(
      { length: options.connections },
      () => new Lane(config, retryDelayMs, onError),
    );
  }

  /** Opens the connections now rather than at the first statement. */
  open(): void {
    for (const lane of this.lanes) lane.canTake(this.maxInFlight);
  }

  /** Runs the statement on a pipelined connection; undefined when none can take it now. */
  query(config: QueryConfig): Promise<QueryResult> | undefined {
    let best: Lane | undefined;
    for (const lane of this.lanes) {
      if (lane.canTake(this.maxInFlight) && (!best || lane.inFlight < best.inFlight)) best = lane;
    }
    return best?.query(config);
  }

  get inFlight(): number {
    return this.lanes.reduce((sum, lane) => sum + lane.inFlight, 0);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.close()));
  }
}
