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

  constructor(catalog: ModelCatalog) {
    const { baseUrl, apiKey, idleTimeoutMs } = catalog.config;
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
   * Streams a reply. `onActivity` is called for every byte the provider sends (keep-alive
   * comments included), for the caller's idle timer. Ends normally even without a finish
   * reason: telling a truncated stream is the caller's business. Throws ModelError or
   * ModelAborted.
   */
  async *stream(
    model: string,
    messages: ChatTurn[],
    signal: AbortSignal,
    onActivity: () => void,
  ): AsyncGenerator<StreamPiece> {
    const client = this.client!.withOptions({ fetch: fetchWithActivity(onActivity) });
    let started = false;
    try {
      const stream = await client.chat.completions.create(
        { model, messages, stream: true, stream_options: { include_usage: true } },
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
        if (choice?.finish_reason) piece.finishReason = choice.finish_reason;
        if (chunk.usage) {
          piece.usage = {
            promptTokens: chunk.usage.prompt_tokens ?? 0,
            completionTokens: chunk.usage.completion_tokens ?? 0,
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
    try {
      const answer = await this.client!.chat.completions.create(
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

function toModelError(error: unknown, started: boolean): ModelError {
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

/** fetch, reporting every chunk of the response body as it arrives. */
function fetchWithActivity(onActivity: () => void) {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const response = await fetch(input, init);
    onActivity();
    if (!response.body) return response;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onActivity();
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
