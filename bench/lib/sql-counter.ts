/**
 * Counting the SQL statements a server sends to PostgreSQL.
 *
 * The server under count connects to PostgreSQL through a tiny TCP proxy on loopback, which
 * forwards bytes unchanged and parses only the frontend (client → server) message headers of the
 * PostgreSQL wire protocol. Every simple-protocol Query ('Q') and every extended-protocol
 * Execute ('E') is one statement executed. That is what a server costs the database in
 * statement executions, whatever the driver or ORM does: BEGIN, COMMIT, SET, SAVEPOINT and
 * SELECT version() all count; Parse, Bind, Describe and Sync do not (they are parts of the same
 * statement). It works for any PostgreSQL reachable without TLS, counts each server separately,
 * and never sees the harness's own seeding queries.
 *
 * The extra hop is not free (it costs throughput, most on the cheapest routes), so the harness
 * never times a server that sits behind a proxy: it runs a second, counting instance of each
 * server for a separate short pass per scenario.
 * Caveat: one 'Q' holding several ';'-separated statements counts once (neither server sends
 * such queries on its request paths).
 */
import { createServer, connect, Server, Socket } from 'node:net';

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const QUERY = 0x51; // 'Q'
const EXECUTE = 0x45; // 'E'

/**
 * Incremental parser of the client side of one PostgreSQL connection: it only needs message
 * boundaries, so it reads headers and skips bodies, whatever the chunking.
 */
class FrontendParser {
  private startup = true;
  private readonly header = Buffer.alloc(8);
  private filled = 0;
  private skip = 0;
  /** Set when the connection switches to TLS/GSS encryption: it cannot be parsed any more. */
  opaque = false;

  constructor(private readonly onStatement: () => void) {}

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.opaque) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      // Startup-phase messages have no type byte: int32 length, int32 request code.
      // Later messages: a type byte, then an int32 length that counts itself but not the type.
      const headerSize = this.startup ? 8 : 5;
      while (this.filled < headerSize && i < chunk.length) this.header[this.filled++] = chunk[i++];
      if (this.filled < headerSize) return;
      this.filled = 0;
      if (this.startup) {
        const code = this.header.readInt32BE(4);
        this.skip = this.header.readInt32BE(0) - 8;
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          // The server may now switch to an encrypted stream: stop parsing this connection.
          this.opaque = true;
        } else {
          this.startup = false;
        }
      } else {
        const type = this.header[0];
        this.skip = this.header.readInt32BE(1) - 4;
        if (type === QUERY || type === EXECUTE) this.onStatement();
      }
    }
  }
}

export class CountingProxy {
  private statements = 0;
  private opaqueConnections = 0;
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(upstreamHost: string, upstreamPort: number): Promise<CountingProxy> {
    return new Promise((resolve, reject) => {
      let proxy: CountingProxy | undefined;
      const server = createServer((client) => proxy?.accept(client, upstreamHost, upstreamPort));
      server.on('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        if (typeof address !== 'object' || address === null)
          return reject(new Error('proxy: no address'));
        proxy = new CountingProxy(server, address.port);
        resolve(proxy);
      });
    });
  }

  private accept(client: Socket, host: string, port: number): void {
    const upstream = connect(port, host);
    // Both legs must disable Nagle like node-postgres does, or small messages wait for ACKs.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const parser = new FrontendParser(() => this.statements++);
    let opaque = false;

    client.on('data', (chunk: Buffer) => {
      parser.feed(chunk);
      if (parser.opaque && !opaque) {
        opaque = true;
        this.opaqueConnections++;
      }
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.pipe(client);

    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  }

  /** Statements counted so far (monotonic). */
  read(): number {
    if (this.opaqueConnections > 0) {
      throw new Error(
        'a server connected with TLS/GSS encryption: the proxy cannot count (use --sql-count=off)',
      );
    }
    return this.statements;
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
