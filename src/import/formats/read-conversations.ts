import type { Readable } from 'node:stream';
import Parser from 'stream-json/Parser';
import type { ByteSource } from './byte-source';
import { mapChatGptConversation } from './chatgpt.mapper';
import { mapExportRoom } from './export-room.mapper';
import { type ImportLimits, importLimits } from './import-limits';
import { ByteSourceError, ImportReadError } from './import-read-error';
import { type JsonElementEvent, JsonElementReader, type Token } from './json-element-reader';
import {
  type FailedConversation,
  type MappedConversation,
  MAX_SOURCE_ID_LENGTH,
  cutText,
  isFailedConversation,
  roomTitle,
  storableText,
} from './mapped-conversation';
import { openZip } from './zip-reader';

export const IMPORT_FORMATS = ['chat-backend.export', 'chatgpt', 'chatgpt-zip'] as const;
/** Our export document; ChatGPT's conversations.json; the ZIP of ChatGPT's data export. */
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** One conversation of the file, in file order (`index` from 0, across a ZIP's parts). */
export type SourceConversation = { index: number } & (MappedConversation | FailedConversation);

export interface OpenImportOptions {
  limits?: Partial<ImportLimits>;
  /** The time given to a conversation that has none at all (default: now). */
  now?: Date;
}

export interface OpenedImport {
  format: ImportFormat;
  /**
   * The conversations, one at a time, read as they are asked for (the file is never held
   * whole). It throws an ImportReadError when the file cannot be read further (the ones
   * already yielded stay good); any other error comes from the ByteSource (retry later).
   * Ending the loop early (break, return, a throw) releases everything.
   */
  conversations: AsyncGenerator<SourceConversation, void, undefined>;
  /** Releases the streams (and the ZIP) when `conversations` is not read to its end. */
  close(): void;
}

/** Bytes read to tell the format: a ZIP's signature, or JSON's first tokens. */
export const SNIFF_BYTES = 4096;

/**
 * Opens an uploaded file: tells its format from its first bytes, checks its head (our export's
 * format and version; a ZIP's table of contents and the sizes its conversation files declare),
 * and returns the conversations to read. Rejects with an ImportReadError when the file is not
 * one we read (code `unknown_format`: the route's 400) or is refused (a ZIP bomb, …).
 */
export async function openImport(
  source: ByteSource,
  options: OpenImportOptions = {},
): Promise<OpenedImport> {
  return translated(open(source, options));
}

async function open(source: ByteSource, options: OpenImportOptions): Promise<OpenedImport> {
  const limits = importLimits(options.limits);
  const mapOptions = { maxMessages: limits.maxMessagesPerConversation, now: options.now };
  const head = await readHead(source, SNIFF_BYTES);
  const format = sniffFormat(head);
  if (format === 'unknown' || format === 'more') {
    throw new ImportReadError(
      'unknown_format',
      "The file is not a format we read: neither an export of this service, nor ChatGPT's conversations.json or its ZIP.",
    );
  }

  const closers = new Set<() => void>();
  const close = () => {
    for (const closer of closers) closer();
    closers.clear();
  };
  // Each document yields its conversation values (or the conversations it skipped).
  let documents: AsyncIterable<JsonDocument> | Iterable<JsonDocument>;
  if (format === 'chatgpt-zip') {
    const zip = await openZip(source, limits);
    if (zip.entries.length === 0) {
      zip.close();
      throw new ImportReadError(
        'unknown_format',
        'The ZIP holds no conversations.json (nor its parts conversations-000.json, …).',
      );
    }
    closers.add(() => zip.close());
    documents = (async function* () {
      for (const entry of zip.entries) {
        const stream = await entry.open();
        yield await openJsonDocument(stream, 'chatgpt', limits, entry.name, closers);
      }
    })();
  } else {
    const document = await openJsonDocument(
      source.createReadStream(0, source.size),
      'any',
      limits,
      'The file',
      closers,
    ).catch((error: unknown) => {
      close();
      throw error;
    });
    documents = [document];
  }

  const conversations = async function* (): AsyncGenerator<SourceConversation, void, undefined> {
    let index = 0;
    let messages = 0;
    try {
      // (a plain array for one JSON document: `for await` takes it as it is)
      for await (const document of documents as AsyncIterable<JsonDocument>) {
        const map = document.root === 'chatgpt' ? mapChatGptConversation : mapExportRoom;
        for await (const event of document.events) {
          if (event.kind === 'start') continue;
          if (event.kind === 'error') throw event.error;
          if (index >= limits.maxConversations) {
            throw new ImportReadError(
              'too_many_conversations',
              `The file holds more than the ${limits.maxConversations} conversations one import may hold.`,
            );
          }
          const conversation =
            event.kind === 'element' ? map(event.value, mapOptions) : skipped(event);
          if (!isFailedConversation(conversation)) {
            messages += conversation.messages.length;
            if (messages > limits.maxMessagesPerImport) {
              throw new ImportReadError(
                'too_many_messages',
                `The file holds more than the ${limits.maxMessagesPerImport} messages one import may hold.`,
              );
            }
          }
          yield { index, ...conversation };
          index += 1;
        }
      }
    } catch (error) {
      throw unwrap(error);
    } finally {
      close();
    }
  };
  return { format, conversations: conversations(), close };
}

/**
 * The format the first bytes of a file show: `more` when they are too few to tell (give more,
 * up to SNIFF_BYTES), `unknown` when they are none of ours. The route can call it on the
 * first chunk of an upload. A `{` is our export only when its first member is
 * `"format": "chat-backend.export"`, which is how our export begins.
 */
export function sniffFormat(head: Uint8Array): ImportFormat | 'unknown' | 'more' {
  const zip = [0x50, 0x4b, 0x03, 0x04]; // "PK\3\4", a ZIP's first local file header
  if (head.length > 0 && head[0] === zip[0]) {
    for (let i = 1; i < Math.min(head.length, zip.length); i++) {
      if (head[i] !== zip[i]) return 'unknown';
    }
    return head.length >= zip.length ? 'chatgpt-zip' : 'more';
  }
  let at = 0;
  const bom = [0xef, 0xbb, 0xbf];
  if (head.length > 0 && head[0] === bom[0]) {
    for (; at < bom.length; at++) {
      if (at >= head.length) return 'more';
      if (head[at] !== bom[at]) return 'unknown';
    }
  }
  const expect = (...texts: string[]): 'ok' | 'unknown' | 'more' => {
    for (const text of texts) {
      while (at < head.length && [0x20, 0x09, 0x0a, 0x0d].includes(head[at])) at++;
      for (let i = 0; i < text.length; i++, at++) {
        if (at >= head.length) return head.length >= SNIFF_BYTES ? 'unknown' : 'more';
        if (head[at] !== text.charCodeAt(i)) return 'unknown';
      }
    }
    return 'ok';
  };
  const first = expect('[');
  if (first === 'ok') return 'chatgpt';
  if (first === 'more') return 'more';
  at = head[0] === bom[0] ? bom.length : 0;
  const exported = expect('{', '"format"', ':', '"chat-backend.export"');
  return exported === 'ok' ? 'chat-backend.export' : exported;
}

/** A conversation the reader did not assemble, named by what it read of it. */
function skipped(event: {
  reason: string;
  sourceId: string | null;
  title: string | null;
}): FailedConversation {
  const sourceId = event.sourceId === null ? '' : storableText(event.sourceId.trim()).text;
  return {
    failed: event.reason,
    sourceId: sourceId === '' ? null : cutText(sourceId, MAX_SOURCE_ID_LENGTH).text,
    title: event.title === null ? null : roomTitle(event.title),
  };
}

interface JsonDocument {
  root: 'chatgpt' | 'chat-backend.export';
  events: AsyncIterableIterator<JsonElementEvent>;
}

/** Starts reading one JSON document and waits for its start (its head checked). */
async function openJsonDocument(
  bytes: Readable,
  accept: 'any' | 'chatgpt',
  limits: ImportLimits,
  label: string,
  closers: Set<() => void>,
): Promise<JsonDocument> {
  // packValues false: no string, key or number is ever held whole by the parser. Not
  // destroyed by its own error: the tokens it read before it must reach the reader first.
  const parser = new Parser({ packValues: false, autoDestroy: false });
  const reader = new JsonElementReader(accept, limits, label);
  const destroy = () => {
    bytes.destroy();
    parser.destroy();
    reader.destroy();
  };
  closers.add(destroy);
  reader.on('close', () => {
    bytes.destroy();
    parser.destroy();
    closers.delete(destroy);
  });
  // An error ends the tokens: the storage's as it is, the parser's as ours (its own messages
  // are not for the person importing). The tokens read before it go first, so that every
  // conversation before a fault is read.
  let failed = false;
  const fail = (error: unknown) => {
    if (failed || reader.destroyed) return;
    failed = true;
    bytes.unpipe(parser);
    parser.unpipe(reader);
    for (let token: unknown = parser.read(); token !== null; token = parser.read()) {
      reader.write(token);
    }
    reader.write({ name: 'error', error } satisfies Token);
    bytes.destroy();
    parser.destroy();
  };
  bytes.on('error', fail);
  // The reader's own refusals (too deep, not our format, …): the rest is not parsed.
  reader.once('failed', () =>
    process.nextTick(() => {
      failed = true;
      bytes.unpipe(parser);
      bytes.destroy();
      parser.destroy();
    }),
  );
  parser.on('error', () =>
    fail(new ImportReadError('malformed', `${label} is not valid JSON, or it is cut short.`)),
  );
  bytes.pipe(parser).pipe(reader);
  const events = reader[Symbol.asyncIterator]() as AsyncIterableIterator<JsonElementEvent>;
  const first = await events.next();
  if (first.done) throw new ImportReadError('malformed', `${label} is empty.`);
  const event = first.value;
  if (event.kind === 'error') throw event.error;
  if (event.kind !== 'start') throw new Error('a JSON document must start with its start event');
  return { root: event.root, events };
}

async function readHead(source: ByteSource, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source.createReadStream(0, Math.min(bytes, source.size))) {
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function translated<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw unwrap(error);
  }
}

/** A storage error leaves as it came; the file's errors are ImportReadErrors already. */
function unwrap(error: unknown): unknown {
  return error instanceof ByteSourceError ? error.sourceError : error;
}
