import type { MessageStatus } from '../chat/entities/message.entity';
import { apiTimestamp } from '../database/iso-timestamps';
import type { GenerationResponseDto } from './dto/generation-response.dto';
import type { GenerationErrorCode } from './entities/generation.entity';

/**
 * A row of `generations` as `row_to_json(g)` returns it (or `SELECT g.*` with the
 * `isoTimestamps` statement option): snake_case, timestamps as strings.
 */
export interface GenerationRow {
  id: string;
  chat_room_id: string;
  message_id: string;
  user_message_id: string | null;
  user_id: string;
  status: MessageStatus;
  model: string;
  finish_reason: string | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  error_code: GenerationErrorCode | null;
  delta_lengths: number[];
  title: string | null;
  owner_instance: number;
  created_at: string;
  finished_at: string | null;
}

/** The server's own sentence for each error code: the provider's text never reaches a client. */
export const ERROR_MESSAGES: Record<GenerationErrorCode, string> = {
  upstream_error: 'The model answered with an error.',
  upstream_rate_limited: 'The model is rate-limited; try again later.',
  upstream_timeout: 'The model sent no data for too long.',
  upstream_truncated: 'The model’s reply ended before it was finished.',
  too_long: 'The reply reached the most text this server keeps; it was cut there.',
  interrupted: 'The server stopped while this reply was being written.',
};

/** The one place a Generation of the API is made: every route and event that gives one uses it. */
export function toGeneration(row: GenerationRow): GenerationResponseDto {
  return {
    id: row.id,
    chatRoomId: row.chat_room_id,
    messageId: row.message_id,
    status: row.status,
    model: row.model,
    finishReason: row.finish_reason,
    usage:
      row.prompt_tokens === null || row.completion_tokens === null
        ? null
        : { promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens },
    error: row.error_code
      ? { code: row.error_code, message: ERROR_MESSAGES[row.error_code] }
      : null,
    createdAt: apiTimestamp(row.created_at),
    finishedAt: row.finished_at === null ? null : apiTimestamp(row.finished_at),
  };
}
