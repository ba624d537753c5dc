import { Readable } from 'node:stream';

/** How a pulled stream ended. */
export type PulledStreamEnd =
  | { outcome: 'complete'; bytes: number }
  /** Destroyed before its end: the client went away (or the server closed the connection). */
  | { outcome: 'stopped'; bytes: number }
  /** Its source failed: the response is cut off, never ended as if complete. */
  | { outcome: 'failed'; bytes: number; error: unknown };

/** The source of a pulled stream: the next piece each time it is asked. */
export type PieceSource = (signal: AbortSignal) => AsyncIterator<Buffer | string>;

/** Thrown into a pulled stream whose source failed (the cause is the `onEnd` callback's). */
export class CutOff extends Error {
  constructor() {
    super('The response was cut off');
    this.name = 'CutOff';
  }
}

/**
 * A response body that asks its source for the next piece only when the response wants it.
 * With a high-water mark of 0 nothing is read ahead: the next piece is asked for once the
 * previous one was taken by the socket (Fastify pipes the stream into the response, which
 * pauses it while the socket's buffer is full and resumes it on 'drain'), so what the server
 * holds does not depend on how much there is to send, and a client that reads slowly is sent
 * to slowly. Destroying it (Fastify does when the client goes away) aborts the source's
 * signal: the source checks it before reading more. A source that fails destroys it with
 * CutOff: Fastify then destroys the connection, and the client sees a body that stops short
 * (chunked encoding without its last chunk), never a complete-looking response.
 */
export class PulledStream extends Readable {
  private readonly aborter = new AbortController();
  private readonly pieces: AsyncIterator<Buffer | string>;
  private bytes = 0;
  private ended = false;

  constructor(
    source: PieceSource,
    private readonly onEnd: (end: PulledStreamEnd) => void,
  ) {
    super({ highWaterMark: 0 });
    this.pieces = source(this.aborter.signal);
  }

  override _read(): void {
    this.pieces.next().then(
      (next) => {
        if (this.destroyed) return;
        if (next.done) {
          this.finish({ outcome: 'complete', bytes: this.bytes });
          this.push(null);
          return;
        }
        const piece = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        this.bytes += piece.length;
        this.push(piece);
      },
      (error: unknown) => {
        if (this.destroyed) return;
        this.finish({ outcome: 'failed', bytes: this.bytes, error });
        this.destroy(new CutOff());
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.aborter.abort();
    this.finish({ outcome: 'stopped', bytes: this.bytes });
    callback(error);
  }

  private finish(end: PulledStreamEnd): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(end);
  }
}
