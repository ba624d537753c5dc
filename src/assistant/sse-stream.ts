import type { FastifyReply } from 'fastify';
import type { GenerationEvent } from './generation-events';

/** A comment line at least this often while nothing else is sent (proxies drop idle streams). */
export const PING_INTERVAL_MS = 15_000;

/** How much one stream may hold for a client that does not read, and for how long. */
export interface SseLimits {
  /** The socket's queue plus the live events waiting behind it, bytes; past it, closed. */
  maxQueuedBytes: number;
  /** A client that takes nothing for this long while the stream has more for it: closed. */
  stallTimeoutMs: number;
}

function format(event: GenerationEvent): string {
  return `id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

/**
 * One text/event-stream response, written to the raw socket: Fastify hands it over
 * (hijack), so the headers the app's hooks set (CORS, security, request id) are copied.
 * Written only as fast as the client reads: a replay is made event by event while the socket
 * takes them (write() true, else 'drain'); live events wait behind it. A client that lets
 * more than `maxQueuedBytes` pile up, or takes nothing for `stallTimeoutMs`, loses the
 * stream (it resumes with Last-Event-ID). A client that goes away, or is cut off, only closes
 * this stream, never the generation.
 */
export class SseStream {
  private readonly ping: NodeJS.Timeout;
  private readonly closeHandlers: (() => void)[] = [];
  /** What is still to be written, in order: replays (made as written) and live events. */
  private readonly queue: (Iterator<GenerationEvent> | string)[] = [];
  /** Bytes of the live events in `queue`. */
  private queuedBytes = 0;
  /** The socket refused the last write: nothing more until 'drain'. */
  private blocked = false;
  private stall?: NodeJS.Timeout;
  private ending = false;
  private readonly idleWaiters: (() => void)[] = [];
  closed = false;

  constructor(
    private readonly reply: FastifyReply,
    private readonly limits: SseLimits,
  ) {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx would otherwise buffer the stream.
      'x-accel-buffering': 'no',
      // The connection closes with the stream: a server shutting down does not wait for it
      // to idle out (Fastify only closes the connections idle when it starts closing).
      connection: 'close',
    });
    raw.flushHeaders();
    // A ping is only for an idle stream: one that waits for its client sends none.
    this.ping = setInterval(() => {
      if (!this.blocked && this.queue.length === 0) this.write(': ping\n\n');
    }, PING_INTERVAL_MS);
    raw.on('close', () => this.close());
    // The client may have gone while the stream was being opened: no 'close' will come.
    if (raw.destroyed || !raw.socket || raw.socket.destroyed) this.close();
    raw.on('drain', () => {
      this.blocked = false;
      clearTimeout(this.stall);
      this.pump();
    });
  }

  /** Events to write after everything queued, made one by one as the client takes them. */
  replay(events: Iterable<GenerationEvent>): void {
    if (this.closed || this.ending) return;
    this.queue.push(events[Symbol.iterator]());
    this.pump();
  }

  /**
   * Writes the event, or queues it behind what the client has not taken yet; a stream that
   * already holds more than maxQueuedBytes for its client is cut off instead.
   */
  send(event: GenerationEvent): void {
    if (this.closed || this.ending) return;
    if (this.queue.length === 0 && !this.blocked) return this.write(format(event));
    // Checked before adding: one event larger than the bound (a long reply's `done`) passes.
    if (this.reply.raw.writableLength + this.queuedBytes > this.limits.maxQueuedBytes) {
      return this.cutOff();
    }
    const text = format(event);
    this.queue.push(text);
    this.queuedBytes += Buffer.byteLength(text);
  }

  /** Resolves once everything given so far is written to the socket (or the stream closed). */
  idle(): Promise<void> {
    if (this.closed || (!this.blocked && this.queue.length === 0)) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Ends the response once everything queued is written; `now` (shutdown): what the client
   * has not taken yet is dropped (it resumes with Last-Event-ID elsewhere).
   */
  end(now = false): void {
    if (this.closed) return;
    this.ending = true;
    if (now && (this.blocked || this.queue.length > 0)) this.cutOff();
    else this.pump();
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  /** Writes from the queue while the socket takes it. */
  private pump(): void {
    while (!this.closed && !this.blocked && this.queue.length > 0) {
      const head = this.queue[0];
      if (typeof head === 'string') {
        this.queue.shift();
        this.queuedBytes -= Buffer.byteLength(head);
        this.write(head);
        continue;
      }
      const next = head.next();
      if (next.done) this.queue.shift();
      else this.write(format(next.value));
    }
    if (this.closed || this.blocked || this.queue.length > 0) return;
    if (this.ending) {
      this.reply.raw.end();
      this.close();
    }
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private write(text: string): void {
    if (this.closed) return;
    if (!this.reply.raw.write(text)) {
      this.blocked = true;
      clearTimeout(this.stall);
      this.stall = setTimeout(() => this.cutOff(), this.limits.stallTimeoutMs);
    }
  }

  /** The client does not read: the stream is closed, and what was queued for it dropped. */
  private cutOff(): void {
    if (this.closed) return;
    this.close();
    this.reply.raw.destroy();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ping);
    clearTimeout(this.stall);
    this.queue.length = 0;
    this.queuedBytes = 0;
    for (const handler of this.closeHandlers.splice(0)) handler();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
