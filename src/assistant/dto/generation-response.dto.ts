import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { MESSAGE_STATUSES, type MessageStatus } from '../../chat/entities/message.entity';
import { MessageResponseDto } from '../../chat/dto/message-response.dto';
import { GENERATION_ERROR_CODES, type GenerationErrorCode } from '../entities/generation.entity';

export class UsageDto {
  /** @example 812 */
  promptTokens: number;
  /** @example 164 */
  completionTokens: number;
}

export class GenerationErrorDto {
  @ApiProperty({ enum: GENERATION_ERROR_CODES, example: 'upstream_timeout' })
  code: GenerationErrorCode;
  /** The server's own sentence, never the provider's text. @example "The model sent no data for too long." */
  message: string;
}

export class GenerationResponseDto {
  /** @example "9b0c3f5e-1d2a-4c6b-8e7f-0a1b2c3d4e5f" */
  id: string;
  /** @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  chatRoomId: string;
  /** The assistant message it writes. @example "6f1c1b8e-8a0e-4c4f-9d4a-2b7f0d3c9e51" */
  messageId: string;
  /** Always its message's status. */
  @ApiProperty({ enum: MESSAGE_STATUSES, example: 'streaming' })
  status: MessageStatus;
  /** @example "llama3.1:8b" */
  model: string;
  /** What the model reported ("stop", "length", …), or null. @example null */
  @ApiProperty({ type: String, nullable: true })
  finishReason: string | null;
  /** Tokens the model reported (estimated when it reported none); null while streaming. */
  @ApiProperty({ type: () => UsageDto, nullable: true })
  usage: UsageDto | null;
  @ApiProperty({ type: () => GenerationErrorDto, nullable: true })
  error: GenerationErrorDto | null;
  /** @example "2026-01-31T12:00:00.000Z" */
  @ApiProperty({ format: 'date-time' })
  createdAt: string;
  /** @example null */
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  finishedAt: string | null;
}

export class GenerationWithContentDto extends GenerationResponseDto {
  /** The reply's text so far (at most about a second behind the stream). @example "Start at Belém," */
  content: string;
}

export class StartedGenerationDto {
  @ApiProperty({ type: () => GenerationResponseDto })
  generation: GenerationResponseDto;
  /** The message posted with `content`; null without it. */
  @ApiProperty({ type: () => MessageResponseDto, nullable: true })
  userMessage: MessageResponseDto | null;
  /** The reply, stored with status "streaming" and content "". */
  @ApiProperty({ type: () => MessageResponseDto })
  assistantMessage: MessageResponseDto;
}

export class ModelDto {
  /** @example "llama3.1:8b" */
  id: string;
  /** Whether rooms without a model use it. @example true */
  default: boolean;
}

export class ModelListDto {
  @ApiProperty({ type: () => [ModelDto] })
  items: ModelDto[];
}

export class UsageTodayDto {
  /** @example 1200 */
  promptTokens: number;
  /** @example 300 */
  completionTokens: number;
  /** Generations started today. @example 3 */
  generations: number;
}

export class UserUsageDto {
  /** The caller's usage since midnight UTC. */
  @ApiProperty({ type: () => UsageTodayDto })
  today: UsageTodayDto;
  /** LLM_DAILY_TOKEN_LIMIT, or null when there is none. @example null */
  @ApiPropertyOptional({ type: Number, nullable: true })
  dailyTokenLimit: number | null;
}
