import { Injectable } from '@nestjs/common';
import { ModelCatalog } from './model-catalog';
import { ChatTurn, ModelClient } from './model-client';
import type { RunningGeneration } from './running-generation';

/** The title of a room nobody named; the first completed reply may replace it. */
export const DEFAULT_TITLE = 'New chat';

const TITLE_TIMEOUT_MS = 15_000;
const MAX_TITLE_LENGTH = 60;

/**
 * Names a "New chat" room after its first completed reply (LLM_AUTO_TITLE), by a short request
 * to the reply's model. GenerationRunner asks for the title before the terminal write, which
 * stores it only if the room is still called "New chat".
 */
@Injectable()
export class RoomTitler {
  constructor(
    private readonly model: ModelClient,
    private readonly catalog: ModelCatalog,
  ) {}

  /** A short title for the generation's room, or null: none wanted, or any failure. */
  async title(generation: RunningGeneration, context: ChatTurn[]): Promise<string | null> {
    if (!this.catalog.config.autoTitle || !generation.mayTitle) return null;
    const firstUser = context.find((turn) => turn.role === 'user')?.content ?? '';
    const signal = AbortSignal.any([generation.signal, AbortSignal.timeout(TITLE_TIMEOUT_MS)]);
    const answer = await this.model.complete(
      generation.state.start.generation.model,
      [
        {
          role: 'system',
          content:
            'Write a title of at most six words for the conversation below. Answer with the title only, without quotes.',
        },
        {
          role: 'user',
          content: `${firstUser.slice(0, 2000)}\n\n${generation.state.content.slice(0, 2000)}`,
        },
      ],
      signal,
      24,
    );
    return cleanTitle(answer);
  }
}

export function cleanTitle(answer: string | null): string | null {
  if (!answer) return null;
  let title = answer
    .replace(/[\r\n]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^["'“”‘’«»`*#\s]+|["'“”‘’«»`*\s.]+$/g, '')
    .replace(/^title:\s*/i, '');
  title = title.toWellFormed().replaceAll('\u0000', '');
  if ([...title].length > MAX_TITLE_LENGTH) {
    title =
      [...title]
        .slice(0, MAX_TITLE_LENGTH - 1)
        .join('')
        .trimEnd() + '…';
  }
  return title === '' ? null : title;
}
