import { ApiProperty } from '@nestjs/swagger';

/** The one error shape of the API. */
export class ErrorResponseDto {
  /** @example 400 */
  statusCode: number;
  /** @example "Bad Request" */
  error: string;
  /** A sentence, or one per failed rule for validation errors. */
  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: ['email must be an email'],
  })
  message: string | string[];
}
