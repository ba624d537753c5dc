import type { FastifyReply } from 'fastify';
import type { GenerationEvent } from './generation-events';

/** A comment line at least this often while nothing else is sent (proxies drop idle streams). */
export const PING_INTERVAL_MS = 15_000;

/**
 * One text/event-stream response, written to the raw socket: Fastify hands it over
 * (hijack), so the headers the app's hooks set (CORS, security, request id) are copied.
 * A client that goes away only closes this stream, never the generation.
 */
export class SseStream {
  private readonly ping: NodeJS.Timeout;
  private readonly closeHandlers: (() => void)[] = [];
  closed = false;

  constructor(private readonly reply: FastifyReply) {
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
    this.ping = setInterval(() => this.write(': ping\n\n'), PING_INTERVAL_MS);
    raw.on('close', () => this.close());
  }

  send(event: GenerationEvent): void {
    this.write(`id: ${event.id}\nevent: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`);
  }

  end(): void {
    if (this.closed) return;
    this.reply.raw.end();
    this.close();
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  private write(text: string): void {
    if (!this.closed) this.reply.raw.write(text);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.ping);
    for (const handler of this.closeHandlers.splice(0)) handler();
  }
}
