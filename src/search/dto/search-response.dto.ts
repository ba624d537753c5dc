import { ApiProperty, OmitType } from '@nestjs/swagger';
import { MessageResponseDto } from '../../chat/dto/message-response.dto';

/** A Message without siblingIds: a hit is opened with PUT …/active-message, which has them. */
export class SearchHitMessageDto extends OmitType(MessageResponseDto, ['siblingIds'] as const) {}

export class SearchHitRoomDto {
  /** @example "3d6f0a52-3c1e-4f5b-8a7d-9e2c4b1a0f33" */
  id: string;
  /** @example "Trip to Seoul" */
  title: string;
}

export class SearchHitDto {
  @ApiProperty({ type: () => SearchHitMessageDto })
  message: SearchHitMessageDto;
  @ApiProperty({ type: () => SearchHitRoomDto })
  chatRoom: SearchHitRoomDto;
  /**
   * Plain text of at most 200 characters (UTF-16 code units) cut from the message around the
   * first match: an exact substring of `message.content`, never splitting a surrogate pair.
   * @example "…so we met at the station. 서울에서 the train left at nine"
   */
  snippet: string;
  /**
   * `[start, end)` offsets into `snippet`, in UTF-16 code units (like JavaScript strings), of
   * every occurrence of every term that lies wholly inside it; sorted by start, then end.
   * Occurrences of different terms may overlap or nest (terms `서울` and `서울에서`).
   */
  @ApiProperty({
    type: 'array',
    items: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 2 },
    example: [
      [26, 28],
      [26, 30],
    ],
  })
  highlights: [number, number][];
}

export class SearchPageDto {
  /** Newest first (createdAt desc, then id desc). */
  @ApiProperty({ type: () => [SearchHitDto] })
  items: SearchHitDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: 'string', nullable: true, example: 'MjAyNi0wMS0zMVQxMjowMDowMC4xMjNafDZm' })
  nextCursor: string | null;
}
