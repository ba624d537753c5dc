import { Injectable } from '@nestjs/common';
import OpenAI, { APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { GenerationErrorCode } from './entities/generation.entity';
import { ModelCatalog } from './model-catalog';

export interface ChatTurn {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** What one chunk of the model's stream says, stripped of the wire format. */
export interface StreamPiece {
  text?: string;
  finishReason?: string;
  usage?: { promptTokens: number; completionTokens: number };
}

/**
 * A model failure as the API reports it: a code of ours, never the provider's text (it can
 * quote the request or fragments of the key). `status` is the provider's HTTP status, if any.
 */
export class ModelError extends Error {
  override name = 'ModelError';
  constructor(
    readonly code: GenerationErrorCode,
    readonly status?: number,
  ) {
    super(code);
  }
}

/** The request was aborted by our own signal (cancel, idle timeout, shutdown). */
export class ModelAborted extends Error {
  override name = 'ModelAborted';
}

/** The response broke one of the bounds of {@link boundedBody}; the connection is closed. */
export class ResponseTooLarge extends Error {
  override name = 'ResponseTooLarge';
}

/**
 * The most bytes of a streamed response between two events (a blank line): the SDK keeps
 * everything up to the next blank line in memory, copying it with each chunk.
 */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** Per character kept and per token asked for: far above any provider's chunk overhead. */
const BODY_BYTES_PER_UNIT = 1024;
/** A title's whole JSON answer (24 tokens asked for). */
const MAX_TITLE_BODY_BYTES = 1024 * 1024;
/** The widest integer column usage is stored in. */
const MAX_TOKENS_STORED = 2 ** 31 - 1;
/** generations.finish_reason is varchar(64). */
const MAX_FINISH_REASON = 64;

/**
 * The OpenAI Chat Completions streaming protocol, through the official `openai` package
 * (pinned 6.x: 7.x needs Node 22): it parses the SSE wire format (keep-alive comments
 * included), turns `data: {"error":…}` chunks into an APIError, and aborts the HTTP request,
 * so the provider stops generating, when the signal fires. Retries are off: a failed reply is
 * reported, not silently repeated; the SDK's own logging is off, it could print the
 * provider's bodies.
 */
@Injectable()
export class ModelClient {
  private readonly client: OpenAI | null;
  private readonly maxTokens: number;
  /** The most bytes of one streamed response (see BODY_BYTES_PER_UNIT). */
  private readonly maxBodyBytes: number;

  constructor(catalog: ModelCatalog) {
    const { baseUrl, apiKey, idleTimeoutMs, maxTokens, replyMaxChars } = catalog.config;
    this.maxTokens = maxTokens;
    // Reached only by a provider that streams chunks without text (or ignores max_tokens)
    // without end: a reply with text meets LLM_REPLY_MAX_CHARS long before.
    this.maxBodyBytes = MAX_EVENT_BYTES + BODY_BYTES_PER_UNIT * (replyMaxChars + maxTokens);
    this.client = baseUrl
      ? new OpenAI({
          baseURL: baseUrl,
          // Local servers (Ollama, vLLM) take no key; the SDK insists on one.
          apiKey: apiKey ?? 'none',
          maxRetries: 0,
          // Until the response headers; the silence between chunks is the caller's timer.
          timeout: idleTimeoutMs,
          logLevel: 'off',
        })
      : null;
  }

  /**
   * Streams a reply, asking for at most LLM_MAX_TOKENS. `onActivity` is called for every byte
   * the provider sends (keep-alive comments included), for the caller's idle timer. Ends
   * normally even without a finish reason: telling a truncated stream is the caller's
   * business. Throws ModelError (upstream_error for a response past MAX_EVENT_BYTES without
   * an event's end, or past its total bound) or ModelAborted.
   */
  async *stream(
    model: string,
    messages: ChatTurn[],
    signal: AbortSignal,
    onActivity: () => void,
  ): AsyncGenerator<StreamPiece> {
    const client = this.client!.withOptions({
      fetch: boundedFetch({
        onActivity,
        maxEventBytes: MAX_EVENT_BYTES,
        maxBodyBytes: this.maxBodyBytes,
      }),
    });
    let started = false;
    try {
      const stream = await client.chat.completions.create(
        {
          model,
          messages,
          // max_tokens, not max_completion_tokens: the field every OpenAI-compatible server
          // (Ollama, vLLM, llama.cpp, LM Studio) reads; OpenAI still accepts it for chat models.
          max_tokens: this.maxTokens,
          stream: true,
          stream_options: { include_usage: true },
        },
        { signal },
      );
      started = true;
      for await (const chunk of stream) {
        const piece: StreamPiece = {};
        // choices can be [] (the usage chunk) or null (some gateways).
        const choice = chunk.choices?.[0];
        if (typeof choice?.delta?.content === 'string' && choice.delta.content !== '') {
          piece.text = choice.delta.content;
        }
        // What the provider says is stored as it is told: kept to what the columns take.
        const reason = choice?.finish_reason as unknown;
        if (typeof reason === 'string' && reason !== '') {
          piece.finishReason = reason.slice(0, MAX_FINISH_REASON);
        }
        if (chunk.usage) {
          piece.usage = {
            promptTokens: tokenCount(chunk.usage.prompt_tokens),
            completionTokens: tokenCount(chunk.usage.completion_tokens),
          };
        }
        if (piece.text !== undefined || piece.finishReason || piece.usage) yield piece;
      }
    } catch (error) {
      throw signal.aborted ? new ModelAborted() : toModelError(error, started);
    }
    // The SDK ends the iteration quietly when its request is aborted.
    if (signal.aborted) throw new ModelAborted();
  }

  /** One short, non-streamed completion (a room's title). Null on any failure. */
  async complete(
    model: string,
    messages: ChatTurn[],
    signal: AbortSignal,
    maxTokens: number,
  ): Promise<string | null> {
    const client = this.client!.withOptions({
      fetch: boundedFetch({
        onActivity: () => undefined,
        maxEventBytes: Infinity,
        maxBodyBytes: MAX_TITLE_BODY_BYTES,
      }),
    });
    try {
      const answer = await client.chat.completions.create(
        { model, messages, max_tokens: maxTokens, stream: false },
        { signal },
      );
      const content = answer.choices?.[0]?.message?.content;
      return typeof content === 'string' ? content : null;
    } catch {
      return null;
    }
  }
}

function tokenCount(value: unknown): number {
  const n = typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : 0;
  return Math.min(Math.max(n, 0), MAX_TOKENS_STORED);
}

function toModelError(error: unknown, started: boolean): ModelError {
  if (error instanceof ResponseTooLarge) return new ModelError('upstream_error');
  if (error instanceof APIUserAbortError) return new ModelError('upstream_error');
  if (error instanceof APIConnectionTimeoutError) return new ModelError('upstream_timeout');
  if (error instanceof APIError) {
    // An HTTP error status, or (status undefined) an error chunk inside the stream or a
    // connection that could not be made.
    if (error.status === 429) return new ModelError('upstream_rate_limited', 429);
    const status = error.status as unknown;
    return new ModelError('upstream_error', typeof status === 'number' ? status : undefined);
  }
  // The connection broke while the body was being read: the reply stopped before its finish.
  return new ModelError(started ? 'upstream_truncated' : 'upstream_error');
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * Fails when a response body passes `maxBodyBytes`, or `maxEventBytes` without the end of an
 * SSE event: a blank line as the SDK finds it (\n\n, \r\r or \r\n\r\n). Chunks pass
 * through as they come, nothing is kept but the last three bytes.
 */
export function boundedBody(limits: {
  maxEventBytes: number;
  maxBodyBytes: number;
  onChunk?: () => void;
}): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  let sinceEvent = 0;
  // The bytes before the current one since the last event's end (-1: none).
  let b1 = -1;
  let b2 = -1;
  let b3 = -1;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      limits.onChunk?.();
      total += chunk.length;
      if (total > limits.maxBodyBytes) {
        return controller.error(new ResponseTooLarge('The response body is too large'));
      }
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i];
        const ends =
          (b === LF && b1 === LF) ||
          (b === CR && b1 === CR) ||
          (b === LF && b1 === CR && b2 === LF && b3 === CR);
        if (ends) {
          sinceEvent = 0;
          b1 = b2 = b3 = -1;
          continue;
        }
        if (++sinceEvent > limits.maxEventBytes) {
          return controller.error(new ResponseTooLarge('An event of the response is too large'));
        }
        b3 = b2;
        b2 = b1;
        b1 = b;
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * fetch, reporting every chunk of the response body as it arrives and ending the body with
 * ResponseTooLarge past the bounds of {@link boundedBody} (the connection is then closed).
 */
function boundedFetch(options: {
  onActivity: () => void;
  maxEventBytes: number;
  maxBodyBytes: number;
}) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    options.onActivity();
    if (!response.body) return response;
    const body = response.body.pipeThrough(
      boundedBody({ ...options, onChunk: options.onActivity }),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
