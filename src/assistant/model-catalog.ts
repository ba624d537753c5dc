import { BadRequestException, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { LlmConfig } from '../config/llm.config';

/** What clients read when no model is configured (the 503 of every assistant route). */
export const NOT_CONFIGURED =
  'The assistant is not configured: set LLM_BASE_URL (an OpenAI-compatible API) and LLM_MODEL';

/** The models clients may choose (LLM_MODEL, LLM_MODELS), and the default one. */
@Injectable()
export class ModelCatalog {
  readonly config: LlmConfig;

  constructor(config: ConfigService<{ llm: LlmConfig }, true>) {
    this.config = config.get('llm', { infer: true });
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** 503 with what to set, on every assistant route, when no model is configured. */
  assertEnabled(): void {
    if (!this.config.enabled) throw new ServiceUnavailableException(NOT_CONFIGURED);
  }

  /** A room's or a request's model: absent or null is fine, else one of the listed ids. */
  assertSelectable(model: string | null | undefined): void {
    if (model == null || this.config.models.includes(model)) return;
    throw new BadRequestException(
      this.config.models.length === 0
        ? 'model must be null: no model is configured'
        : `model must be one of: ${this.config.models.join(', ')}`,
    );
  }

  list(): { id: string; default: boolean }[] {
    return this.config.models.map((id) => ({ id, default: id === this.config.defaultModel }));
  }
}
