import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake model does with one streamed request. */
export interface Script {
  /** Answer this HTTP status (with an error body naming `secret`) instead of streaming. */
  status?: number;
  /** The content deltas, one chunk each. */
  tokens?: string[];
  /** Pause before each chunk, ms. */
  paceMs?: number;
  /** The finish reason of the last chunk; null sends none (the stream still ends with [DONE]). */
  finishReason?: string | null;
  /** Send the usage chunk (include_usage). Default true. */
  usage?: boolean;
  /** After this many tokens: a `data: {"error":…}` chunk, then the response ends. */
  errorAfter?: number;
  /** After this many tokens: the response ends (no finish, no [DONE]). */
  endAfter?: number;
  /** After this many tokens: the socket is destroyed. */
  destroyAfter?: number;
  /** After this many tokens: nothing more is sent, the connection stays open. */
  silentAfter?: number;
  /** A keep-alive comment line between chunks. */
  comments?: boolean;
  /** Each token is the send time (`performance.now()` in µs) and a space: the bench's clock. */
  stamp?: boolean;
  /** A `choices: []` chunk and a `choices: null` chunk before the content. */
  emptyChoices?: boolean;
  /** After `tokens`: content chunks of `pieceBytes` characters, until the client goes away. */
  endless?: boolean;
  /** The characters of each `endless` chunk (ASCII, so bytes too). Default 1000. */
  pieceBytes?: number;
  /**
   * Instead of the content: one `data:` line of this many bytes that never ends (no newline),
   * written as fast as the client reads; then silence, the connection open.
   */
  hugeLine?: number;
}

export interface RecordedRequest {
  body: {
    model: string;
    messages: { role: string; content: string }[];
    stream?: boolean;
    stream_options?: { include_usage?: boolean };
    max_tokens?: number;
  };
  headers: IncomingMessage['headers'];
  /** True when the client closed the connection before the fake ended the response. */
  abortedByClient: boolean;
  /** Resolves when the connection is closed, whoever closed it. */
  closed: Promise<void>;
  /** Chunks written so far (content tokens). */
  sent: number;
  /** Bytes of the response body written so far. */
  bytes: number;
}

export interface FakeModel {
  /** The base URL to give LLM_BASE_URL (…/v1). */
  url: string;
  requests: RecordedRequest[];
  /** Streamed requests take the queued scripts in order, then `defaultScript`. */
  enqueue(...scripts: Script[]): void;
  defaultScript: Script;
  /** The answer to non-streamed requests (titles); null answers 500. */
  title: string | null;
  /** The provider's error text, as a real one might quote it: must never reach a client. */
  secret: string;
  /** Streamed requests only. */
  streamed(): RecordedRequest[];
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An OpenAI-compatible Chat Completions server on node:http speaking the real wire format:
 * `data: {chunk}` lines, a usage chunk with `choices: []`, `data: [DONE]`. Scriptable per
 * request, and it records every request (the context sent, and whether the client aborted).
 */
export async function startFakeModel(): Promise<FakeModel> {
  const queue: Script[] = [];
  const requests: RecordedRequest[] = [];
  const sockets = new Set<import('node:net').Socket>();
  const fake: FakeModel = {
    url: '',
    requests,
    enqueue: (...scripts) => queue.push(...scripts),
    defaultScript: { tokens: ['Hello', ', ', 'world', '!'] },
    title: 'A fine title',
    secret: 'provider-says-sk-LEAKED-KEY-FRAGMENT',
    streamed: () => requests.filter((r) => r.body.stream),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RecordedRequest['body'];
    let ended = false;
    const record: RecordedRequest = {
      body,
      headers: req.headers,
      abortedByClient: false,
      sent: 0,
      bytes: 0,
      closed: new Promise((resolve) =>
        res.on('close', () => {
          if (!ended) record.abortedByClient = true;
          resolve();
        }),
      ),
    };
    requests.push(record);
    const finish = (text?: string) => {
      ended = true;
      res.end(text);
    };

    if (!body.stream) {
      if (fake.title === null) {
        res.writeHead(500, { 'content-type': 'application/json' });
        return finish(JSON.stringify({ error: { message: fake.secret } }));
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      return finish(
        JSON.stringify({
          id: 'cmpl-title',
          object: 'chat.completion',
          created: 0,
          model: body.model,
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: fake.title },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 },
        }),
      );
    }

    const script = queue.shift() ?? fake.defaultScript;
    if (script.status) {
      res.writeHead(script.status, { 'content-type': 'application/json' });
      return finish(JSON.stringify({ error: { message: fake.secret, type: 'error' } }));
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const chunk = (choices: unknown, extra: object = {}) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 0, model: body.model, choices, ...extra })}\n\n`;
    /** Settles once everything written so far has been handed to the kernel. */
    let flushed = Promise.resolve();
    const write = (text: string) => {
      if (res.destroyed) return false;
      record.bytes += Buffer.byteLength(text);
      let written!: () => void;
      flushed = new Promise((resolve) => (written = resolve));
      return res.write(text, () => written());
    };
    // Backpressure: what the client does not read is not piled up here.
    const drained = () =>
      new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });

    write(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
    if (script.emptyChoices) {
      write(chunk([]));
      write(chunk(null));
    }
    if (script.hugeLine !== undefined) {
      const piece = 'a'.repeat(64 * 1024);
      if (!write(`data: {"choices":[{"index":0,"delta":{"content":"`)) await drained();
      for (let left = script.hugeLine; left > 0 && !res.destroyed; left -= piece.length) {
        if (!write(left < piece.length ? piece.slice(0, left) : piece)) await drained();
      }
      return; // the client's bound (or its idle timeout) has to act
    }
    const tokens = script.tokens ?? [];
    for (let i = 0; i <= tokens.length; i++) {
      if (script.errorAfter === i) {
        write(
          `data: ${JSON.stringify({ error: { message: fake.secret, type: 'server_error' } })}\n\n`,
        );
        return finish();
      }
      if (script.endAfter === i) return finish();
      if (script.destroyAfter === i) {
        await flushed; // what was written reaches the client first: destroy() drops the rest
        return res.destroy();
      }
      if (script.silentAfter === i) return; // the client's idle timeout has to act
      if (i === tokens.length) break;
      if (script.paceMs) await sleep(script.paceMs);
      if (res.destroyed) return;
      if (script.comments) write(': keep-alive\n\n');
      const content = script.stamp ? `${Math.round(performance.now() * 1000)} ` : tokens[i];
      write(chunk([{ index: 0, delta: { content }, finish_reason: null }]));
      record.sent += 1;
    }
    if (script.endless) {
      const content = 'x'.repeat(script.pieceBytes ?? 1000);
      while (!res.destroyed) {
        if (script.paceMs) await sleep(script.paceMs);
        const ok = write(chunk([{ index: 0, delta: { content }, finish_reason: null }]));
        record.sent += 1;
        if (!ok) await drained();
      }
      return;
    }
    const finishReason = script.finishReason === undefined ? 'stop' : script.finishReason;
    if (finishReason !== null) write(chunk([{ index: 0, delta: {}, finish_reason: finishReason }]));
    if (script.usage !== false) {
      write(
        chunk([], {
          usage: {
            prompt_tokens: 42,
            completion_tokens: tokens.length,
            total_tokens: 42 + tokens.length,
          },
        }),
      );
    }
    write('data: [DONE]\n\n');
    finish();
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}
