/**
 * A download of an export (`GET /api/users/me/export` or a room's), read as fast as it comes,
 * keeping nothing but counts: bytes, rooms and messages, time to the first byte and to the end.
 */
import { request } from 'node:http';

export interface Download {
  status: number;
  complete: boolean;
  bytes: number;
  firstByteMs: number;
  totalMs: number;
  rooms: number;
  messages: number;
}

/** Downloads `path` as fast as it comes, keeping nothing but counts. */
export function download(base: string, path: string, token: string): Promise<Download> {
  return new Promise((done, fail) => {
    const start = performance.now();
    const req = request(
      `${base}${path}`,
      { headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let bytes = 0;
        let firstByteMs = -1;
        // Counted across chunk boundaries: a match may straddle two (each pattern keeps the
        // characters it could start with, never a whole match).
        const counts = { rooms: 0, messages: 0 };
        const patterns = { rooms: '"activeMessageId":', messages: '"role":"' };
        const carry = { rooms: '', messages: '' };
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          if (firstByteMs < 0) firstByteMs = performance.now() - start;
          bytes += Buffer.byteLength(text);
          for (const key of ['rooms', 'messages'] as const) {
            const pattern = patterns[key];
            const joined = carry[key] + text;
            for (let at = joined.indexOf(pattern); at >= 0; at = joined.indexOf(pattern, at + 1)) {
              counts[key]++;
            }
            carry[key] = joined.slice(-(pattern.length - 1));
          }
        });
        res.on('error', () => undefined);
        res.on('close', () =>
          done({
            status: res.statusCode ?? 0,
            complete: res.complete,
            bytes,
            firstByteMs,
            totalMs: performance.now() - start,
            ...counts,
          }),
        );
      },
    );
    req.on('error', fail);
    req.end();
  });
}
