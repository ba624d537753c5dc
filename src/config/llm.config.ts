import type { EnvironmentVariables } from './env.validation';

/** The `llm` namespace: the model the assistant streams its replies from. */
export interface LlmConfig {
  /** false without LLM_BASE_URL: the assistant routes answer 503. */
  enabled: boolean;
  baseUrl: string | null;
  apiKey: string | null;
  defaultModel: string | null;
  /** The models clients may choose; the default model first. */
  models: string[];
  contextChars: number;
  idleTimeoutMs: number;
  /** Sent as `max_tokens` with every streamed request. */
  maxTokens: number;
  /** The most UTF-16 units of a reply kept: past it the reply ends failed/too_long. */
  replyMaxChars: number;
  autoTitle: boolean;
  maxConcurrentPerUser: number;
  dailyTokenLimit: number | null;
}

export function buildLlmConfig(env: EnvironmentVariables): LlmConfig {
  const defaultModel = env.LLM_MODEL ?? null;
  const listed = (env.LLM_MODELS ?? '')
    .split(',')
    .map((model) => model.trim())
    .filter(Boolean);
  const models = defaultModel ? [defaultModel, ...listed.filter((m) => m !== defaultModel)] : [];
  return {
    enabled: env.LLM_BASE_URL !== undefined,
    baseUrl: env.LLM_BASE_URL ?? null,
    apiKey: env.LLM_API_KEY ?? null,
    defaultModel,
    models,
    contextChars: env.LLM_CONTEXT_CHARS,
    idleTimeoutMs: env.LLM_IDLE_TIMEOUT_MS,
    maxTokens: env.LLM_MAX_TOKENS,
    replyMaxChars: env.LLM_REPLY_MAX_CHARS,
    autoTitle: env.LLM_AUTO_TITLE,
    maxConcurrentPerUser: env.LLM_MAX_CONCURRENT_PER_USER,
    dailyTokenLimit: env.LLM_DAILY_TOKEN_LIMIT ?? null,
  };
}
