import { Injectable } from '@nestjs/common';
import { GenerationsRepository } from './generations.repository';
import { ModelCatalog } from './model-catalog';
import type { ChatTurn } from './model-client';

/**
 * What the model is sent for a reply: the room's system prompt, then its messages oldest
 * first, cut from the oldest end to LLM_CONTEXT_CHARS; the system prompt and the newest message
 * are always sent. Read by GenerationRunner once the reply's start is committed.
 */
@Injectable()
export class GenerationContext {
  constructor(
    private readonly generations: GenerationsRepository,
    private readonly catalog: ModelCatalog,
  ) {}

  async load(roomId: string, replyId: string): Promise<ChatTurn[]> {
    const systemPrompt = await this.generations.systemPrompt({ roomId });
    const budget = Math.max(0, this.catalog.config.contextChars - (systemPrompt?.length ?? 0));
    const newestFirst = await this.generations.history({ roomId, replyId, maxChars: budget });
    const kept: ChatTurn[] = [];
    let used = 0;
    for (const turn of newestFirst) {
      if (kept.length > 0 && used + turn.content.length > budget) break;
      kept.push({ role: turn.role, content: turn.content });
      used += turn.content.length;
    }
    kept.reverse();
    return systemPrompt ? [{ role: 'system', content: systemPrompt }, ...kept] : kept;
  }
}
