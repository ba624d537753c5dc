import { Injectable, NotFoundException } from '@nestjs/common';
import type { Logger } from 'pino';
import type { TokenCaller } from '../auth/auth-user';
import { SessionsService } from '../auth/sessions.service';
import { InjectLogger } from '../common/logging.module';
import { documentStart, DOCUMENT_END, exportFilename, GroupWriter } from './export-document';
import { ExportRepository, START, type ExportRoomRow, type RoomsKeyset } from './export.repository';
import { PulledStream, type PulledStreamEnd } from './pulled-stream';

/**
 * Rooms read per statement (their heads: title, settings, active message), and most rooms
 * whose messages are read together.
 */
export const EXPORT_ROOMS_PAGE = 100;
/** Most messages read per statement. */
export const EXPORT_MESSAGES_PAGE = 1000;
/**
 * Most bytes of message content (UTF-8, as stored) read per statement, and so about the most
 * the server holds for one export at a time (one page, then the piece written from it), never
 * less than one message.
 */
export const EXPORT_PAGE_BYTES = 256 * 1024;

/** An export whose caller and first page were checked: its file name, and its body to send. */
export interface ExportDownload {
  filename: string;
  /** The document, read and written as the response takes it. */
  body(): PulledStream;
}

/**
 * Exports of one room or of every room of the caller. The first statement proves the session
 * and ownership before anything is sent (so 401 and 404 are ordinary answers); then the
 * document is produced piece by piece from keyset pages as the client reads it: the rooms in
 * groups (small rooms together), a piece per page of their messages, with the heads of the
 * rooms it reaches. What the server holds is a page, whatever the size of the account; a
 * client that goes away stops the reading.
 */
@Injectable()
export class ExportService {
  constructor(
    private readonly exports: ExportRepository,
    private readonly sessions: SessionsService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** One room; 404 when it is not the caller's. 1 statement, then one per page of messages. */
  async room(caller: TokenCaller, roomId: string, requestId: string): Promise<ExportDownload> {
    const exportedAt = new Date();
    const room = await this.exports.room({
      roomId,
      ownerId: caller.id,
      sessionId: caller.sessionId,
    });
    if (!room) {
      await this.sessions.assertLive(caller);
      throw new NotFoundException('Chat room not found');
    }
    return this.download(exportedAt, requestId, (signal) =>
      this.document(exportedAt, [room], signal),
    );
  }

  /**
   * Every room of the caller, oldest first. 1 statement (+1 when the caller has no room: is
   * the session live?), then one per further page of rooms and one per page of messages.
   */
  async account(caller: TokenCaller, requestId: string): Promise<ExportDownload> {
    const exportedAt = new Date();
    const first = await this.exports.firstRooms({
      ownerId: caller.id,
      sessionId: caller.sessionId,
      take: EXPORT_ROOMS_PAGE,
    });
    if (first.length === 0) await this.sessions.assertLive(caller);
    return this.download(exportedAt, requestId, (signal) =>
      this.document(exportedAt, this.roomsOf(caller.id, first, signal), signal),
    );
  }

  private download(
    exportedAt: Date,
    requestId: string,
    source: (signal: AbortSignal) => AsyncGenerator<Buffer | string>,
  ): ExportDownload {
    return {
      filename: exportFilename(exportedAt),
      body: () => new PulledStream(source, (end) => this.ended(requestId, end)),
    };
  }

  /**
   * The whole document, in pieces: its start; the rooms, a group at a time, a piece per page of
   * their messages; its end.
   */
  private async *document(
    exportedAt: Date,
    rooms: AsyncIterable<ExportRoomRow> | Iterable<ExportRoomRow>,
    signal: AbortSignal,
  ): AsyncGenerator<Buffer | string> {
    yield documentStart(exportedAt);
    let first = true;
    for await (const group of groupsOf(rooms)) {
      yield* this.groupPieces(group, first, signal);
      first = false;
    }
    yield DOCUMENT_END;
  }

  /** The owner's rooms, oldest first, a page at a time after the first. */
  private async *roomsOf(
    ownerId: string,
    first: ExportRoomRow[],
    signal: AbortSignal,
  ): AsyncGenerator<ExportRoomRow> {
    let page = first;
    for (;;) {
      yield* page;
      if (page.length < EXPORT_ROOMS_PAGE) return;
      signal.throwIfAborted();
      const last = page.at(-1)!;
      page = await this.exports.rooms({
        ownerId,
        take: EXPORT_ROOMS_PAGE,
        afterAt: last.created_at,
        afterId: last.id,
      });
    }
  }

  /**
   * A group of rooms read together: each room's head, then its messages, a piece per page
   * (a page may end inside a room and the next go on from there, or span several rooms).
   */
  private async *groupPieces(
    group: ExportRoomRow[],
    firstOfDocument: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<Buffer> {
    const writer = new GroupWriter(group, firstOfDocument);
    let keyset: RoomsKeyset = { fromOrd: 1, ...START };
    for (;;) {
      signal.throwIfAborted();
      const next = await this.page(writer, keyset);
      if (!next) {
        yield writer.end();
        return;
      }
      yield writer.take();
      keyset = next;
    }
  }

  /**
   * Reads the group's next page into the writer; answers where the page after it starts, or
   * null after the last. Only that is kept while the client reads the piece, not the rows.
   */
  private async page(writer: GroupWriter, keyset: RoomsKeyset): Promise<RoomsKeyset | null> {
    const { rows, more } = await this.exports.messages({
      roomIds: writer.roomIds,
      take: EXPORT_MESSAGES_PAGE,
      budget: EXPORT_PAGE_BYTES,
      ...keyset,
    });
    writer.messages(rows);
    const last = rows.at(-1);
    return more && last ? { fromOrd: last.ord, afterAt: last.created_at, afterId: last.id } : null;
  }

  /** A download that did not complete is logged: name and code only (driver messages can quote SQL). */
  private ended(requestId: string, end: PulledStreamEnd): void {
    if (end.outcome === 'complete') return;
    const fields = { context: 'Export', reqId: requestId, bytes: end.bytes };
    if (end.outcome === 'stopped') {
      this.logger.info(fields, 'export stopped: the connection closed before the end');
      return;
    }
    const err = end.error as { name?: unknown; code?: unknown } | null;
    this.logger.error(
      { ...fields, errType: err?.name, errCode: err?.code },
      'export failed: the response was cut off',
    );
  }
}

/**
 * The rooms in groups read together: consecutive rooms while their messages (as counted when
 * the rooms were read) make at most a page, at most a page of rooms; a room of more messages
 * alone. A thousand small rooms cost tens of statements, not a thousand.
 */
async function* groupsOf(
  rooms: AsyncIterable<ExportRoomRow> | Iterable<ExportRoomRow>,
): AsyncGenerator<ExportRoomRow[]> {
  let group: ExportRoomRow[] = [];
  let messages = 0;
  for await (const room of rooms) {
    const full =
      group.length >= EXPORT_ROOMS_PAGE || messages + room.message_count > EXPORT_MESSAGES_PAGE;
    if (group.length > 0 && full) {
      yield group;
      group = [];
      messages = 0;
    }
    group.push(room);
    messages += room.message_count;
  }
  if (group.length > 0) yield group;
}
