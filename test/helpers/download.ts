import { get, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { eventually } from './eventually';

const END_BYTES = 1024;

/**
 * A download read as it arrives, without keeping it: for bodies too large to hold in a test
 * that measures the app's memory in its own process. Keeps the first and last KiB (as text),
 * counts bytes, hands each piece of text to `onText`, and can pause, resume or abort.
 */
export interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  /** Bytes of the body received so far. */
  readonly bytes: number;
  /** The first KiB of the body. */
  readonly head: string;
  /** The last KiB received so far. */
  readonly tail: string;
  /**
   * Settles when the connection is done with the body: `complete` when it ended properly (for
   * chunked encoding: with its last chunk), false when it was cut off or aborted.
   */
  done: Promise<{ complete: boolean }>;
  /** Resolves once at least `n` bytes of the body arrived. */
  received(n: number): Promise<void>;
  /** Stops reading (the server's writes then back up), or reads again. */
  pause(): void;
  resume(): void;
  /** Closes the connection, as a client that gives up. */
  abort(): void;
}

/** GET `path` of `base` (http://host:port) with the bearer token. */
export function download(
  base: string,
  path: string,
  token: string,
  onText: (text: string) => void = () => undefined,
): Promise<Download> {
  return new Promise((resolve, reject) => {
    const req = get(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    req.on('error', reject);
    req.on('response', (res: IncomingMessage) => {
      let bytes = 0;
      let head = '';
      let tail = '';
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        bytes += Buffer.byteLength(text);
        if (head.length < END_BYTES) head += text.slice(0, END_BYTES - head.length);
        tail = (tail + text).slice(-END_BYTES);
        onText(text);
      });
      // A body cut off is an 'error' ("aborted") on the response; `complete` tells.
      res.on('error', () => undefined);
      const done = new Promise<{ complete: boolean }>((settle) =>
        res.on('close', () => settle({ complete: res.complete })),
      );
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        get bytes() {
          return bytes;
        },
        get head() {
          return head;
        },
        get tail() {
          return tail;
        },
        done,
        received: (n) =>
          eventually(() => bytes >= n, { intervalMs: 5, message: `${n} bytes received` }).then(
            () => undefined,
          ),
        pause: () => res.pause(),
        resume: () => res.resume(),
        abort: () => req.destroy(),
      });
    });
  });
}
