import type { Readable } from 'node:stream';
import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Injectable,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { TokenCaller } from '../auth/auth-user';
import { SessionsService } from '../auth/sessions.service';
import type { AppConfig, ImportsSection } from '../config/configuration';
import { InstanceLease } from '../database/instance-lease';
import type { ImportPageDto, ImportResponseDto } from './dto/import-response.dto';
import { formatBytes, isImportReadError, openImport } from './formats';
import { ImportRunner } from './import-runner';
import { ImportsRepository, type ImportItemRow, type ImportRow } from './imports.repository';
import { CHUNK_BYTES, storedUpload } from './stored-upload';

/** 429 with Retry-After: the caller has an import uploading, queued or running. */
export class ImportGoingException extends HttpException {
  readonly retryAfterSeconds = 10;
  constructor() {
    super(
      'An import of yours is already queued or running: wait until it has finished',
      HttpStatus.TOO_MANY_REQUESTS,
    );
  }
}

export function importJson(row: ImportRow, items: ImportItemRow[] = []): ImportResponseDto {
  return {
    id: row.id,
    status: row.status,
    format: row.format,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
    reason: row.reason,
    conversations: {
      total: row.next_index,
      imported: row.imported,
      skipped: row.skipped,
      failed: row.failed,
    },
    items,
  };
}

@Injectable()
export class ImportsService {
  private readonly limits: ImportsSection;

  constructor(
    private readonly repository: ImportsRepository,
    private readonly sessions: SessionsService,
    private readonly lease: InstanceLease,
    private readonly runner: ImportRunner,
    config: ConfigService<AppConfig, true>,
  ) {
    this.limits = config.get('imports', { infer: true });
  }

  /**
   * Stores an upload as it arrives, checks that it is a file we read (its head; a ZIP's table
   * of contents and declared sizes), and queues it. Anything that fails on the way deletes
   * what was stored.
   */
  async upload(
    caller: TokenCaller,
    body: Readable,
    declaredBytes: number | undefined,
  ): Promise<ImportResponseDto> {
    if (declaredBytes !== undefined && declaredBytes > this.limits.maxBytes) throw this.tooLarge();
    await this.lease.acquire();
    const begin = () =>
      this.repository.begin({
        ownerId: caller.id,
        sessionId: caller.sessionId,
        runnerKey: this.lease.key,
      });
    let importId = await begin();
    // An upload left by an instance that died would block its owner until the next sweep.
    if (importId === null && (await this.repository.dropDeadUploads(this.lease.key)) > 0) {
      importId = await begin();
    }
    if (importId === null) {
      await this.sessions.assertLive(caller);
      throw new ImportGoingException();
    }
    try {
      const size = await this.store(importId, body);
      if (size === 0) throw new BadRequestException('The body is empty: send the file as the body');
      const opened = await openImport(storedUpload(this.repository, importId, size)).catch(
        (error: unknown) => {
          throw isImportReadError(error) ? new BadRequestException(error.message) : error;
        },
      );
      opened.close();
      const row = await this.repository.queue({ importId, format: opened.format, byteSize: size });
      // Gone: this instance's lease was lost meanwhile and another instance dropped the upload.
      if (row === null)
        throw new ServiceUnavailableException('The upload was interrupted: send it again');
      this.runner.kick();
      return importJson(row);
    } catch (error) {
      await this.repository.discard(importId).catch(() => undefined);
      throw error;
    }
  }

  /** Writes the body as rows of CHUNK_BYTES as it arrives; its size. */
  private async store(importId: string, body: Readable): Promise<number> {
    let size = 0;
    let seq = 0;
    let held: Buffer[] = [];
    let heldBytes = 0;
    for await (const part of body as AsyncIterable<Buffer>) {
      size += part.length;
      if (size > this.limits.maxBytes) throw this.tooLarge();
      held.push(part);
      heldBytes += part.length;
      while (heldBytes >= CHUNK_BYTES) {
        const bytes = Buffer.concat(held, heldBytes);
        await this.repository.chunk({ importId, seq: seq++, data: bytes.subarray(0, CHUNK_BYTES) });
        held = heldBytes > CHUNK_BYTES ? [bytes.subarray(CHUNK_BYTES)] : [];
        heldBytes -= CHUNK_BYTES;
      }
    }
    if (heldBytes > 0) {
      await this.repository.chunk({ importId, seq, data: Buffer.concat(held, heldBytes) });
    }
    return size;
  }

  private tooLarge(): PayloadTooLargeException {
    return new PayloadTooLargeException(
      `The file is larger than ${formatBytes(this.limits.maxBytes)} (IMPORT_MAX_BYTES)`,
    );
  }

  async one(
    caller: TokenCaller,
    importId: string,
    page: { itemsLimit: number; itemsOffset: number },
  ): Promise<ImportResponseDto> {
    const row = await this.repository.one({
      importId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
      ...page,
    });
    if (row === null) {
      await this.sessions.assertLive(caller);
      throw new NotFoundException('Import not found');
    }
    return importJson(row, row.items);
  }

  async page(caller: TokenCaller, page: { limit: number; offset: number }): Promise<ImportPageDto> {
    const rows = await this.repository.page({
      ownerId: caller.id,
      sessionId: caller.sessionId,
      ...page,
    });
    if (rows.length === 0) await this.sessions.assertLive(caller);
    const items = rows.flatMap((row) => (row.id === null ? [] : [importJson(row as ImportRow)]));
    return { items, total: rows[0]?.total ?? 0, ...page };
  }
}
