import {
  BadRequestException,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
  Req,
  Res,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { RouteConfig } from '@nestjs/platform-fastify';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiParam,
  ApiPayloadTooLargeResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TokenCaller } from '../auth/auth-user';
import { CurrentUser } from '../auth/decorators/current-user.decorator';
import { ErrorResponseDto } from '../common/dto/error-response.dto';
// Value imports: the decorated signatures' types are read at run time.
import { GetImportQueryDto, ListImportsQueryDto } from './dto/import-queries.dto';
import { ImportPageDto, ImportResponseDto } from './dto/import-response.dto';
import { ImportsService } from './imports.service';
import { STREAMED_BODY, UPLOAD_MEDIA_TYPES, uploadOf } from './upload-body';

const ImportId = () =>
  Param(
    'importId',
    new ParseUUIDPipe({
      exceptionFactory: () => new BadRequestException('importId must be a UUID'),
    }),
  );

@ApiTags('imports')
@ApiBearerAuth()
@ApiUnauthorizedResponse({
  type: ErrorResponseDto,
  description: 'Missing, invalid or expired token, or its session has ended',
})
@Controller('imports')
export class ImportsController {
  constructor(private readonly imports: ImportsService) {}

  /**
   * Imports a file: our export document (GET /api/users/me/export), ChatGPT's
   * `conversations.json`, or the ZIP of ChatGPT's data export (with `conversations.json` or its
   * parts `conversations-000.json`, …), told apart by their bytes. The body is the file. It is
   * stored as it arrives and the answer comes once it is whole; the import then runs in the
   * background on any instance: follow it at the `Location`. Every conversation becomes a room
   * with its whole tree, or is skipped (already imported by you), or fails with a reason.
   */
  @Post()
  @HttpCode(HttpStatus.ACCEPTED)
  @RouteConfig(STREAMED_BODY)
  @ApiConsumes(...UPLOAD_MEDIA_TYPES)
  @ApiBody({ schema: { type: 'string', format: 'binary' }, description: 'The file, as it is' })
  @ApiAcceptedResponse({
    type: ImportResponseDto,
    description: 'Stored and queued',
    headers: {
      Location: { description: 'The import: `/api/imports/:id`', schema: { type: 'string' } },
    },
  })
  @ApiBadRequestResponse({
    type: ErrorResponseDto,
    description:
      'An empty body, or not a file we read (the message says why), or a ZIP refused as a ZIP bomb',
  })
  @ApiPayloadTooLargeResponse({
    type: ErrorResponseDto,
    description: 'The file is larger than IMPORT_MAX_BYTES (256 MiB by default); nothing is stored',
  })
  @ApiUnsupportedMediaTypeResponse({
    type: ErrorResponseDto,
    description:
      'The body is not `application/json`, `application/zip` or `application/x-zip-compressed`',
  })
  @ApiTooManyRequestsResponse({
    type: ErrorResponseDto,
    description: 'An import of yours is already queued or running (`Retry-After`)',
  })
  async create(
    @CurrentUser() user: TokenCaller,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImportResponseDto> {
    const upload = uploadOf(request);
    if (upload === null) {
      throw new UnsupportedMediaTypeException(
        `Send the file as the body, as ${UPLOAD_MEDIA_TYPES.join(' or ')}`,
      );
    }
    const length = Number(request.headers['content-length']);
    const created = await this.imports
      .upload(user, upload.body, Number.isSafeInteger(length) ? length : undefined)
      .catch((error: unknown) => {
        // Refused before the whole body was read: closing the connection spares reading the
        // rest of it (up to the limit) just to keep the connection alive.
        if (!upload.body.readableEnded) void reply.header('connection', 'close');
        throw error;
      });
    void reply.header('location', `/api/imports/${created.id}`);
    return created;
  }

  /** The caller's imports, newest first (without their items: see GET /api/imports/:id). */
  @Get()
  @ApiOkResponse({ type: ImportPageDto })
  list(
    @CurrentUser() user: TokenCaller,
    @Query() query: ListImportsQueryDto,
  ): Promise<ImportPageDto> {
    return this.imports.page(user, query);
  }

  /** One import: its progress while it runs, and what became of each conversation. */
  @Get(':importId')
  @ApiParam({ name: 'importId', format: 'uuid' })
  @ApiOkResponse({ type: ImportResponseDto })
  @ApiNotFoundResponse({
    type: ErrorResponseDto,
    description: 'No such import of the caller (another user’s import is also 404)',
  })
  one(
    @CurrentUser() user: TokenCaller,
    @ImportId() importId: string,
    @Query() query: GetImportQueryDto,
  ): Promise<ImportResponseDto> {
    return this.imports.one(user, importId, query);
  }
}
