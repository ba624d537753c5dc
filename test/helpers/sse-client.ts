import { request } from 'node:http';

export interface SseEvent {
  id: number;
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- events' JSON, asserted by tests
}

export interface SseResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Events so far; grows while the stream is open. */
  events: SseEvent[];
  /** Comment lines received (`: ping`). */
  comments: string[];
  /** The body text when the answer is not a stream (errors). */
  text: string;
  /** Resolves when the server ends the response (or it is closed). */
  ended: Promise<void>;
  /** Resolves once `count` events have arrived (or the stream ended). */
  waitFor(count: number): Promise<void>;
  /** Closes the connection from the client side. */
  close(): void;
}

/**
 * Opens an event stream the way a browser's fetch() would (a bearer token, optionally
 * Last-Event-ID) and parses the text/event-stream as it arrives.
 */
export function openStream(
  base: string,
  path: string,
  options: {
    token: string;
    method?: 'GET' | 'POST';
    body?: object;
    lastEventId?: string | number;
    accept?: string;
    /** More request headers (e.g. Idempotency-Key). */
    headers?: Record<string, string>;
  },
): Promise<SseResponse> {
  return new Promise((resolveOpen, failOpen) => {
    const headers: Record<string, string> = {
      authorization: `Bearer ${options.token}`,
      accept: options.accept ?? 'text/event-stream',
      ...options.headers,
    };
    if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
    const payload = options.body ? JSON.stringify(options.body) : undefined;
    if (payload) headers['content-type'] = 'application/json';
    const req = request(`${base}${path}`, { method: options.method ?? 'GET', headers });
    req.on('error', failOpen);
    req.on('response', (res) => {
      const waiters: { count: number; resolve: () => void }[] = [];
      let endedFlag = false;
      let buffer = '';
      const response: SseResponse = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        comments: [],
        text: '',
        ended: new Promise((resolve) => {
          res.on('close', () => {
            endedFlag = true;
            for (const w of waiters.splice(0)) w.resolve();
            resolve();
          });
        }),
        waitFor(count) {
          if (response.events.length >= count || endedFlag) return Promise.resolve();
          return new Promise((resolve) => waiters.push({ count, resolve }));
        },
        close() {
          req.destroy();
        },
      };
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        response.text += text;
        buffer += text;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const event: Partial<SseEvent> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) response.comments.push(line);
            else if (line.startsWith('id: ')) event.id = Number(line.slice(4));
            else if (line.startsWith('event: ')) event.event = line.slice(7);
            else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
          }
          if (event.event) response.events.push(event as SseEvent);
        }
        for (const w of [...waiters]) {
          if (response.events.length >= w.count) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve();
          }
        }
      });
      res.on('error', () => undefined);
      resolveOpen(response);
    });
    req.end(payload);
  });
}

/** The reply's text from a stream's events (deltas in id order, or a snapshot). */
export function textOf(events: SseEvent[]): string {
  let text = '';
  for (const event of events) {
    if (event.event === 'delta') text += event.data.text as string;
    if (event.event === 'snapshot') text = event.data.content as string;
  }
  return text;
}
