import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { ModelCatalog } from '../assistant/model-catalog';
import type { AppConfig, ImportsSection } from '../config/configuration';
import { InstanceLease } from '../database/instance-lease';
import { Sql } from '../database/sql.service';
import {
  type ImportFormat,
  type MappedConversation,
  type OpenedImport,
  type SourceConversation,
  isFailedConversation,
  isImportReadError,
  openImport,
} from './formats';
import { ImportsRepository, type ClaimedImport, type ItemRecord } from './imports.repository';
import { roomRows } from './room-rows';
import { storedUpload } from './stored-upload';

/**
 * Claims an import may take. A run ends early only when its instance stops or the database
 * fails it; one that no run can finish (its stored file unreadable) fails after these.
 */
export const MAX_RUNS = 10;

/** This instance no longer runs the import (its lease was lost and another took it over). */
class ImportTakenOver extends Error {}

/**
 * Runs imports in the background, one at a time per instance, on whichever instance claims
 * them (SKIP LOCKED): at once when this instance accepted the upload, and every IMPORT_POLL_MS
 * for imports queued elsewhere or left running by an instance that died. Each conversation is
 * one transaction with its item and the import's progress, so a run that stops anywhere
 * resumes after the last committed conversation, and nothing is imported twice.
 */
@Injectable()
export class ImportRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Imports');
  private readonly limits: ImportsSection;
  private timer?: NodeJS.Timeout;
  private running: Promise<void> | null = null;
  private again = false;
  private stopping = false;

  constructor(
    private readonly repository: ImportsRepository,
    private readonly sql: Sql,
    private readonly lease: InstanceLease,
    private readonly catalog: ModelCatalog,
    config: ConfigService<AppConfig, true>,
  ) {
    this.limits = config.get('imports', { infer: true });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.lease.acquire();
    this.timer = setInterval(() => this.kick(), this.limits.pollMs).unref();
    this.kick();
  }

  /** Stops claiming; a run in progress stops after its current conversation, queued again. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await this.running;
  }

  onModuleDestroy(): Promise<void> {
    return this.stop();
  }

  /** Looks for imports to run now (one was just queued here). */
  kick(): void {
    if (this.stopping) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      await this.repository.dropDeadUploads(this.lease.key);
      while (!this.stopping) {
        const claimed = await this.repository.claim(this.lease.key);
        if (claimed === null) return;
        await this.run(claimed);
      }
    } catch (error) {
      this.logger.warn({ msg: 'Import worker failed; retrying later', errType: errorName(error) });
    }
  }

  private async run(job: ClaimedImport): Promise<void> {
    const runnerKey = this.lease.key;
    if (job.runs > MAX_RUNS) {
      await this.repository.finish({
        importId: job.id,
        runnerKey,
        status: 'failed',
        reason: `The import was interrupted ${MAX_RUNS} times: the conversations before that stay imported.`,
      });
      return;
    }
    if (job.next_index > 0) {
      this.logger.log({ msg: 'Resuming import', importId: job.id, from: job.next_index });
    }
    let opened: OpenedImport | undefined;
    try {
      opened = await openImport(storedUpload(this.repository, job.id, job.byte_size), {
        limits: {
          maxConversations: this.limits.maxConversations,
          maxMessagesPerImport: this.limits.maxMessages,
        },
        now: new Date(job.created_at),
      });
      // The next conversation is read while the one before is being stored: reading is the
      // app's CPU, storing PostgreSQL's, and they overlap. One is stored at a time, in order.
      let storing: Promise<void> = Promise.resolve();
      try {
        for await (const conversation of opened.conversations) {
          await storing;
          if (this.stopping) {
            await this.repository.release({ importId: job.id, runnerKey });
            return;
          }
          if (conversation.index < job.next_index) continue;
          storing = this.store(job, runnerKey, conversation);
          storing.catch(() => undefined); // awaited before the next one, or below
        }
        await storing;
      } catch (error) {
        // The conversation in hand ends (stored or not) before the import's end is written.
        await storing.catch(() => undefined);
        throw error;
      }
      await this.repository.finish({
        importId: job.id,
        runnerKey,
        status: 'complete',
        reason: null,
      });
    } catch (error) {
      if (error instanceof ImportTakenOver) return;
      if (isImportReadError(error)) {
        await this.repository.finish({
          importId: job.id,
          runnerKey,
          status: 'failed',
          reason: error.message,
        });
        return;
      }
      // The storage's fault, not the file's: the import waits for a later run.
      this.logger.warn({
        msg: 'Import interrupted; it will resume',
        importId: job.id,
        errType: errorName(error),
      });
      await this.repository.release({ importId: job.id, runnerKey }).catch(() => undefined);
    } finally {
      opened?.close();
    }
  }

  /** One conversation, whole or not at all, with its item and the import's progress. */
  private async store(
    job: ClaimedImport,
    runnerKey: number,
    conversation: SourceConversation,
  ): Promise<void> {
    const item = { importId: job.id, runnerKey, index: conversation.index };
    if (isFailedConversation(conversation)) {
      return this.recordAlone({
        ...item,
        sourceId: conversation.sourceId,
        title: conversation.title,
        status: 'failed',
        chatRoomId: null,
        reason: conversation.failed,
      });
    }
    const notes = [...conversation.notes];
    const model = this.roomModel(conversation, notes);
    const rows = roomRows(conversation, {
      ownerId: job.owner_id,
      format: sourceKind(job.format),
      model,
    });
    const described = { ...item, sourceId: conversation.sourceId, title: conversation.title };
    try {
      await this.sql.transaction(async (tx) => {
        const room = await this.repository.room(tx, rows);
        if (room?.created) await this.repository.messages(tx, rows);
        const recorded = await this.repository.record(tx, {
          ...described,
          status: room?.created ? 'imported' : 'skipped',
          chatRoomId: room?.id ?? null,
          reason: room?.created
            ? notes.join(' ') || null
            : 'Already in this account: imported before, or a room of its own.',
        });
        if (!recorded) throw new ImportTakenOver();
      });
    } catch (error) {
      if (!isDataError(error)) throw error;
      // What the database refuses of one conversation fails it alone.
      this.logger.warn({
        msg: 'Imported conversation refused',
        importId: job.id,
        errType: errorName(error),
      });
      await this.recordAlone({
        ...described,
        status: 'failed',
        chatRoomId: null,
        reason: 'The conversation could not be stored.',
      });
    }
  }

  private async recordAlone(item: ItemRecord): Promise<void> {
    if (!(await this.repository.recordAlone(item))) throw new ImportTakenOver();
  }

  /** The room's model when this server offers it; otherwise the default, said in a note. */
  private roomModel(conversation: MappedConversation, notes: string[]): string | null {
    const model = conversation.model;
    if (model === null) return null;
    if (this.catalog.list().some((offered) => offered.id === model)) return model;
    notes.push(`The room's model ${model} is not offered here: it uses the default model.`);
    return null;
  }
}

function sourceKind(format: ImportFormat): 'chatgpt' | 'room' {
  return format === 'chat-backend.export' ? 'room' : 'chatgpt';
}

/** PostgreSQL's data exceptions (22) and integrity violations (23): the data's fault. */
function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

function errorName(error: unknown): string {
  const code = (error as { code?: unknown })?.code;
  const name = (error as Error)?.name ?? 'unknown error';
  return typeof code === 'string' ? `${name} (${code})` : name;
}
