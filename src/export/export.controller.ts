import { Readable } from 'node:stream';
import { BadRequestException, Controller, Get, Param, ParseUUIDPipe, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiProduces,
  ApiTags,
  ApiUnauthorizedResponse,
  type ApiResponseOptions,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
import { ExportDocumentDto } from './dto/export-document.dto';
import { ExportService, type ExportDownload } from './export.service';

const RoomId = () =>
  Param(
    'roomId',
    new ParseUUIDPipe({ exceptionFactory: () => new BadRequestException('roomId must be a UUID') }),
  );

const DOCUMENT: ApiResponseOptions = {
  type: ExportDocumentDto,
  description:
    'The export document, streamed: sent as it is read (chunked, no Content-Length), so the ' +
    'download starts at once whatever its size. A download that stops before the closing ' +
    '`]}` (the connection closed without the last chunk) is incomplete: retry it.',
  headers: {
    'Content-Disposition': {
      description: 'Names the file: `attachment; filename="chat-export-YYYY-MM-DD.json"` (UTC)',
      schema: { type: 'string', example: 'attachment; filename="chat-export-2026-01-31.json"' },
    },
  },
};

/**
 * Sends an export: the headers, then the document as the client reads it. A HEAD request
 * gets the headers only: Fastify would read a streamed body through to its end to discard it.
 */
function send(reply: FastifyReply, download: ExportDownload): Readable {
  void reply
    .header('content-type', 'application/json; charset=utf-8')
    .header('content-disposition', `attachment; filename="${download.filename}"`)
    .header('cache-control', 'no-store');
  return reply.request.method === 'HEAD' ? Readable.from([]) : download.body();
}

@ApiTags('export')
@ApiBearerAuth()
@ApiProduces('application/json')
@ApiUnauthorizedResponse({
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its session has ended',
})
@Controller()
export class ExportController {
  constructor(private readonly exports: ExportService) {}

  /**
   * Downloads one room as an export document: the room with every message of every branch,
   * in conversation order, and which branch it shows (`activeMessageId`).
   */
  @Get('chat-rooms/:roomId/export')
  @ApiParam({ name: 'roomId', format: 'uuid' })
  @ApiOkResponse(DOCUMENT)
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: 'No such chat room of the caller (another user’s room is also 404)',
  })
  async room(
    @CurrentUser() user: TokenCaller,
    @RoomId() roomId: string,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    return send(reply, await this.exports.room(user, roomId, reply.request.id));
  }

  /**
   * Downloads every room of the caller as one export document, oldest room first, each with
   * every message of every branch. An account of any size: the document is written as it is
   * read.
   */
  @Get('users/me/export')
  @ApiOkResponse(DOCUMENT)
  async account(
    @CurrentUser() user: TokenCaller,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<Readable> {
    return send(reply, await this.exports.account(user, reply.request.id));
  }
}
