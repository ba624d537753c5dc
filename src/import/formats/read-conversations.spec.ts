import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  CHATGPT_FIXTURES,
  chatGptFixture,
  chatGptFixtureText,
  conversationsJson,
} from '../../../test/helpers/chatgpt-fixtures';
import { eventually } from '../../../test/helpers/eventually';
import { type ZipEntryInput, zipBytes } from '../../../test/helpers/zip-writer';
import { type ByteSource, bufferByteSource, fileByteSource } from './byte-source';
import { mapChatGptConversation } from './chatgpt.mapper';
import { type ImportLimits } from './import-limits';
import { type ImportReadErrorCode, ImportReadError } from './import-read-error';
import { isFailedConversation } from './mapped-conversation';
import {
  type ImportFormat,
  type SourceConversation,
  openImport,
  sniffFormat,
} from './read-conversations';

const NOW = new Date('2030-01-01T00:00:00.000Z');

/** What mapping each fixture gives, as the reader should yield it (index = list position). */
function expectedItems(names: readonly (typeof CHATGPT_FIXTURES)[number][] = CHATGPT_FIXTURES) {
  return names.map((name, index) => ({
    index,
    ...mapChatGptConversation(chatGptFixture(name), { now: NOW }),
  }));
}

async function readAll(
  source: ByteSource,
  limits?: Partial<ImportLimits>,
): Promise<{ format: ImportFormat; items: SourceConversation[] }> {
  const opened = await openImport(source, { limits, now: NOW });
  const items: SourceConversation[] = [];
  for await (const item of opened.conversations) items.push(item);
  return { format: opened.format, items };
}

/** Reads until the reader throws; the error must be an ImportReadError. */
async function readFailure(
  source: ByteSource,
  limits?: Partial<ImportLimits>,
): Promise<{ error: ImportReadError; items: SourceConversation[]; opened: boolean }> {
  const items: SourceConversation[] = [];
  let opened = false;
  try {
    const open = await openImport(source, { limits, now: NOW });
    opened = true;
    for await (const item of open.conversations) items.push(item);
  } catch (error) {
    if (!(error instanceof ImportReadError)) throw error;
    return { error, items, opened };
  }
  throw new Error(`read ${items.length} conversations without an error`);
}

function json(text: string, chunkSize?: number): ByteSource {
  return bufferByteSource(Buffer.from(text, 'utf8'), chunkSize);
}

function zip(entries: ZipEntryInput[]): ByteSource {
  return bufferByteSource(zipBytes(entries));
}

/** The other files of a ChatGPT data export, which the reader must pass over. */
const EXPORT_COMPANIONS: ZipEntryInput[] = [
  { name: 'user.json', data: '{"id":"user-abc","email":"baker@example.com"}' },
  { name: 'chat.html', data: '<html><body>…</body></html>' },
  { name: 'message_feedback.json', data: '[]' },
  { name: 'file-7Hk2mQ9xY3zR1aB4cD5eF6-loaf.jpg', data: Buffer.alloc(2048, 0xd8), method: 'store' },
  { name: 'dalle-generations/', data: '', method: 'store' },
];

describe('openImport: ChatGPT conversations.json', () => {
  it('yields every conversation in file order, mapped as mapChatGptConversation maps it', async () => {
    const { format, items } = await readAll(json(conversationsJson()));
    expect(format).toBe('chatgpt');
    expect(items).toEqual(expectedItems());
    // the entry without mapping is a failed conversation, the others go on
    expect(items.filter(isFailedConversation).map((item) => item.index)).toEqual([10]);
  });

  it('reads the same whatever the chunks (multi-byte characters split across them), with a BOM and white space', async () => {
    const text = `\uFEFF \n\t${conversationsJson(['korean-emoji', 'plain', 'code-tool-reply'])}\n\n`;
    for (const chunkSize of [1, 7, 4096]) {
      const { items } = await readAll(json(text, chunkSize));
      expect(items).toEqual(expectedItems(['korean-emoji', 'plain', 'code-tool-reply']));
    }
  });

  it('an empty list is an import of nothing', async () => {
    expect(await readAll(json(' [ ] '))).toEqual({ format: 'chatgpt', items: [] });
  });

  it('fails elements that are not conversations, and goes on', async () => {
    const text = `[1, "two", null, [], ${chatGptFixtureText('plain')}, {}]`;
    const { items } = await readAll(json(text));
    expect(items.map((item) => (isFailedConversation(item) ? item.failed : item.title))).toEqual([
      'The conversation is not a JSON object.',
      'The conversation is not a JSON object.',
      'The conversation is not a JSON object.',
      'The conversation is not a JSON object.',
      'Bread baking basics',
      'The conversation has no `conversation_id` or `id`.',
    ]);
  });

  it('keeps a `__proto__` key an ordinary key', async () => {
    const plain = chatGptFixtureText('plain').replace(
      '"title":',
      '"__proto__": {"polluted": 1}, "title":',
    );
    const { items } = await readAll(json(`[${plain}]`));
    expect(items).toEqual(expectedItems(['plain']));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('openImport: ChatGPT ZIP exports', () => {
  it('reads conversations.json from the ZIP as downloaded, passing over the other files', async () => {
    const source = zip([
      ...EXPORT_COMPANIONS.slice(0, 2),
      { name: 'conversations.json', data: conversationsJson() },
      ...EXPORT_COMPANIONS.slice(2),
    ]);
    const { format, items } = await readAll(source);
    expect(format).toBe('chatgpt-zip');
    expect(items).toEqual(expectedItems());
  });

  it('reads a sharded export: its parts in number order, in a folder, stored or deflated', async () => {
    const folder = 'Export 2025-06-01';
    const parts = [
      CHATGPT_FIXTURES.slice(0, 4),
      CHATGPT_FIXTURES.slice(4, 8),
      CHATGPT_FIXTURES.slice(8, 10),
      CHATGPT_FIXTURES.slice(10),
    ];
    const source = zip([
      ...EXPORT_COMPANIONS,
      // listed out of order; -010 comes after -002 by number
      { name: `${folder}/conversations-010.json`, data: conversationsJson(parts[3]) },
      {
        name: `${folder}/conversations-001.json`,
        data: conversationsJson(parts[1]),
        method: 'store',
      },
      { name: `__MACOSX/${folder}/._conversations-000.json`, data: 'resource fork' },
      { name: `${folder}/conversations-000.json`, data: conversationsJson(parts[0]) },
      { name: `${folder}/conversations-002.json`, data: conversationsJson(parts[2]) },
      // a folder with parts: a conversations.json beside them is not read twice
      { name: `${folder}/conversations.json`, data: conversationsJson(['plain']) },
    ]);
    const { format, items } = await readAll(source);
    expect(format).toBe('chatgpt-zip');
    expect(items).toEqual(expectedItems());
  });

  it('reads the ZIP from a file on disk by ranges', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'import-zip-'));
    try {
      const path = join(dir, 'chatgpt-export.zip');
      await writeFile(
        path,
        zipBytes([...EXPORT_COMPANIONS, { name: 'conversations.json', data: conversationsJson() }]),
      );
      const { format, items } = await readAll(await fileByteSource(path));
      expect(format).toBe('chatgpt-zip');
      expect(items).toEqual(expectedItems());
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a ZIP bomb before inflating it (default limits)', async () => {
    const bomb = Buffer.alloc(24 * 1024 * 1024, 0x20); // 24 MiB of spaces deflate to ~24 KiB
    bomb[0] = 0x5b; // '['
    bomb[bomb.length - 1] = 0x5d; // ']'
    const { error, opened } = await readFailure(zip([{ name: 'conversations.json', data: bomb }]));
    expect(error.code).toBe('zip_bomb');
    expect(error.message).toMatch(
      /^conversations\.json in the ZIP would inflate \d+ times its compressed size, to 24 MiB: refused as a ZIP bomb\.$/,
    );
    expect(opened).toBe(false);
  });

  it('refuses an entry that inflates to more than it declares, counting the bytes inflated', async () => {
    const { error, items } = await readFailure(
      zip([{ name: 'conversations.json', data: conversationsJson(), declaredSize: 1000 }]),
    );
    expect(error.code).toBe('zip_bomb');
    expect(error.message).toBe(
      'conversations.json in the ZIP inflates to more than the 1000 bytes it declares: refused as a ZIP bomb.',
    );
    expect(items).toEqual([]);
  });

  it('an entry shorter than it declares is damaged', async () => {
    const text = conversationsJson(['plain']);
    const { error } = await readFailure(
      zip([{ name: 'conversations.json', data: text, declaredSize: text.length + 10 }]),
    );
    expect(error.code).toBe('malformed');
    expect(error.message).toBe('conversations.json in the ZIP is shorter than it declares.');
  });

  it('refuses more entries, or more inflated bytes, than the limits', async () => {
    const entries = [
      ...EXPORT_COMPANIONS,
      { name: 'conversations.json', data: conversationsJson() },
    ];
    const many = await readFailure(zip(entries), { maxZipEntries: 5 });
    expect(many.error.code).toBe('zip_too_large');
    expect(many.error.message).toBe('The ZIP lists 6 entries, more than the 5 we read.');
    const large = await readFailure(zip(entries), { maxZipUncompressedBytes: 100_000 });
    expect(large.error.code).toBe('zip_too_large');
    expect(large.error.message).toBe(
      'The conversations in the ZIP inflate to more than the 97.7 KiB we read.',
    );
  });

  it('refuses encrypted entries and compression methods other than stored and deflated', async () => {
    const encrypted = await readFailure(
      zip([{ name: 'conversations.json', data: '[]', encryptedFlag: true }]),
    );
    expect(encrypted.error.code).toBe('zip_unsupported');
    expect(encrypted.error.message).toBe('conversations.json in the ZIP is encrypted.');
    const bzip2 = await readFailure(
      zip([{ name: 'conversations.json', data: '[]', methodNumber: 12 }]),
    );
    expect(bzip2.error.code).toBe('zip_unsupported');
  });

  it('a ZIP without conversations, cut short, or holding something else is refused', async () => {
    const none = await readFailure(zip(EXPORT_COMPANIONS));
    expect(none.error.code).toBe('unknown_format');
    expect(none.error.message).toBe(
      'The ZIP holds no conversations.json (nor its parts conversations-000.json, …).',
    );
    const whole = zipBytes([{ name: 'conversations.json', data: conversationsJson() }]);
    const cut = await readFailure(bufferByteSource(whole.subarray(0, whole.length - 30)));
    expect(cut.error.code).toBe('malformed');
    expect(cut.error.message).toBe('The ZIP is damaged: its table of contents cannot be read.');
    const object = await readFailure(zip([{ name: 'conversations.json', data: '{"a": 1}' }]));
    expect(object.error.code).toBe('unexpected_shape');
    expect(object.error.message).toBe('conversations.json does not hold a list of conversations.');
    const text = await readFailure(zip([{ name: 'conversations.json', data: 'Hello' }]));
    expect(text.error.code).toBe('malformed');
    expect(text.error.message).toBe('conversations.json is not valid JSON, or it is cut short.');
    const damaged = zipBytes([{ name: 'conversations.json', data: conversationsJson() }]);
    damaged.fill(0xff, 100, 400); // inside the deflated data
    const broken = await readFailure(bufferByteSource(damaged));
    expect(broken.error.code).toBe('malformed');
  });
});

describe('openImport: our export document', () => {
  const room = (id: string, title: string) => ({
    id,
    title,
    createdAt: '2026-01-31T12:00:00.000Z',
    updatedAt: '2026-01-31T12:00:00.000Z',
    model: null,
    systemPrompt: null,
    activeMessageId: null,
    messages: [],
  });
  const ROOM_A = '3f0c6a52-7d1e-4b7a-9a43-2b8f1f0e9c11';
  const ROOM_B = '3f0c6a52-7d1e-4b7a-9a43-2b8f1f0e9c12';

  it('reads its rooms after checking format and version; a broken room fails alone', async () => {
    const document = {
      format: 'chat-backend.export',
      version: 1,
      exportedAt: '2026-02-01T00:00:00.000Z',
      rooms: [room(ROOM_A, 'First'), { ...room(ROOM_B, 'Broken'), messages: 'none' }],
      comment: { nested: [1, [2, [3]]] },
    };
    const { format, items } = await readAll(json(JSON.stringify(document, null, 2), 5));
    expect(format).toBe('chat-backend.export');
    expect(items).toEqual([
      {
        index: 0,
        sourceId: ROOM_A,
        title: 'First',
        createdAt: '2026-01-31T12:00:00.000Z',
        updatedAt: '2026-01-31T12:00:00.000Z',
        model: null,
        systemPrompt: null,
        messages: [],
        activeSourceId: null,
        notes: [],
      },
      { index: 1, failed: 'The room has no `messages` list.', sourceId: ROOM_B, title: 'Broken' },
    ]);
  });

  it('refuses a document that is not our export, or of another version, before reading its rooms', async () => {
    const cases: [string, ImportReadErrorCode, string][] = [
      [
        '{"rooms": [], "format": "chat-backend.export", "version": 1}',
        'unknown_format',
        "The file is not a format we read: neither an export of this service, nor ChatGPT's conversations.json or its ZIP.",
      ],
      [
        '{"format": "chat-backend.export", "version": 2, "rooms": []}',
        'unknown_format',
        'The file is an export document of a version we do not read (we read version 1).',
      ],
      [
        '{"format": "chat-backend.export", "version": "1", "rooms": []}',
        'unknown_format',
        'The file is an export document of a version we do not read (we read version 1).',
      ],
      [
        '{"format": "chat-backend.export", "rooms": [], "version": 1}',
        'unknown_format',
        'The file is not an export document we read: its `version` must come before its `rooms`.',
      ],
      [
        '{"format": "chat-backend.export", "version": 1, "rooms": {}}',
        'unexpected_shape',
        'The `rooms` of The file is not a list.',
      ],
      [
        '{"format": "chat-backend.export", "version": 1}',
        'unexpected_shape',
        'The file has no `rooms`.',
      ],
    ];
    for (const [text, code, message] of cases) {
      const { error, items, opened } = await readFailure(json(text));
      expect([text, error.code, error.message]).toEqual([text, code, message]);
      expect(items).toEqual([]);
      // the head (format, version) is checked while opening; the rooms as they are read
      expect(opened).toBe(code === 'unexpected_shape');
    }
  });
});

describe('openImport: what is not a file we read', () => {
  it('answers unknown_format for empty files, other JSON, other bytes', async () => {
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from('   '),
      Buffer.from('"hello"'),
      Buffer.from('{"name": "not ours"}'),
      Buffer.from('PK\u0005\u0006'),
      Buffer.from('%PDF-1.7'),
      Buffer.from([0xef, 0xbb]),
    ]) {
      const { error } = await readFailure(bufferByteSource(bytes));
      expect([bytes.toString('latin1'), error.code]).toEqual([
        bytes.toString('latin1'),
        'unknown_format',
      ]);
    }
  });

  it('random bytes (bare, or after a format`s first bytes) give an ImportReadError, never another error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          '',
          '[',
          '[{"id": "x", "mapping": ',
          '{"format":"chat-backend.export","version":1,"rooms":[',
          'PK\u0003\u0004',
        ),
        fc.uint8Array({ maxLength: 300 }),
        async (prefix, bytes) => {
          const source = bufferByteSource(
            Buffer.concat([Buffer.from(prefix, 'latin1'), bytes]),
            16,
          );
          try {
            await readAll(source);
          } catch (error) {
            expect(error).toBeInstanceOf(ImportReadError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('truncated JSON: the conversations before the cut are read, then a malformed error', async () => {
    const text = conversationsJson();
    const expected = expectedItems();
    const bytes = Buffer.from(text, 'utf8');
    for (let i = 1; i <= 40; i++) {
      const cut = Math.floor((bytes.length * i) / 41);
      const { error, items } = await readFailure(bufferByteSource(bytes.subarray(0, cut)));
      expect([cut, error.code]).toEqual([cut, 'malformed']);
      expect(error.message).toMatch(
        /^The file (is cut short\.|is not valid JSON, or it is cut short\.)$/,
      );
      expect(items).toEqual(expected.slice(0, items.length));
    }
  });

  it('stops reading the file where it is too deep, even while nobody asks for the next conversation', async () => {
    const file = Buffer.concat([
      Buffer.from(`[${chatGptFixtureText('plain')},`),
      Buffer.alloc(16 * 1024 * 1024, '['),
    ]);
    const inner = bufferByteSource(file);
    let read = 0;
    let stream: Readable | null = null;
    const source: ByteSource = {
      size: inner.size,
      createReadStream: (start, end) => {
        stream = inner.createReadStream(start, end);
        return stream.on('data', (chunk: Buffer) => (read += chunk.length));
      },
    };
    const opened = await openImport(source);
    expect((await opened.conversations.next()).value).toEqual(expectedItems(['plain'])[0]);
    // the file's stream is released (destroyed) near where the nesting went too deep
    await eventually(() => stream!.destroyed, { message: 'the file stream destroyed' });
    expect(read).toBeLessThan(1024 * 1024);
    await expect(opened.conversations.next()).rejects.toMatchObject({ code: 'too_deep' });
  });

  it('trailing bytes after the list: everything is read, then a malformed error', async () => {
    const { error, items } = await readFailure(json(`${conversationsJson(['plain'])} []`));
    expect(error.code).toBe('malformed');
    expect(items).toEqual(expectedItems(['plain']));
  });

  it('over-deep JSON stops the import (the parser would hold every level)', async () => {
    const deep = `[${chatGptFixtureText('plain')}, ${'['.repeat(100_000)}`;
    const { error, items } = await readFailure(json(deep));
    expect(error.code).toBe('too_deep');
    expect(error.message).toBe('The file nests lists and objects more than 64 deep.');
    expect(items).toEqual(expectedItems(['plain']));
    const shallow = await readFailure(json(`[${'{"a":'.repeat(10)}1${'}'.repeat(10)}]`), {
      maxDepth: 8,
    });
    expect(shallow.error.code).toBe('too_deep');
  });
});

describe('openImport: limits', () => {
  it('a conversation larger than maxConversationBytes fails, named by its id and title read as it streamed by; the others go on', async () => {
    const { items } = await readAll(json(conversationsJson()), { maxConversationBytes: 50_000 });
    const expected = expectedItems();
    expect(items[9]).toEqual({
      index: 9,
      failed: 'The conversation is larger than 48.8 KiB of JSON.',
      // conversation_id comes after the mapping that made it too large
      sourceId: '66a1b2c3-0010-800e-a1b2-c3d4e5f60010',
      title: 'Very long message',
    });
    expect(items.filter((_, i) => i !== 9)).toEqual(expected.filter((_, i) => i !== 9));
  });

  it('names a conversation too large to read with text it can store', async () => {
    const big = `{"title": " Big\\u0000 one ", "mapping": {"a": "${'x'.repeat(2000)}"}, "conversation_id": "\\u0000"}`;
    const { items } = await readAll(json(`[${big}]`), { maxConversationBytes: 1000 });
    expect(items).toEqual([
      {
        index: 0,
        failed: 'The conversation is larger than 1000 bytes of JSON.',
        sourceId: '\uFFFD',
        title: 'Big\uFFFD one',
      },
    ]);
  });

  it('stops after maxConversations, and after maxMessagesPerImport messages', async () => {
    const many = await readFailure(json(conversationsJson()), { maxConversations: 5 });
    expect(many.error.code).toBe('too_many_conversations');
    expect(many.error.message).toBe(
      'The file holds more than the 5 conversations one import may hold.',
    );
    expect(many.items).toEqual(expectedItems().slice(0, 5));
    const messages = await readFailure(json(conversationsJson()), { maxMessagesPerImport: 10 });
    expect(messages.error.code).toBe('too_many_messages');
    // plain 2, hidden-system-root 2, regenerate 3: the edit's 4 would pass 10
    expect(messages.items.map((item) => item.index)).toEqual([0, 1, 2]);
  });

  it('passes maxMessagesPerConversation to the mapping', async () => {
    const { items } = await readAll(json(conversationsJson(['plain', 'edit'])), {
      maxMessagesPerConversation: 3,
    });
    expect(items.map((item) => (isFailedConversation(item) ? item.failed : 'ok'))).toEqual([
      'ok',
      'The conversation has 4 messages, more than the 3 one room may hold.',
    ]);
  });
});

describe('openImport: the byte source', () => {
  /** A source over `bytes` whose reads from before `failAt` fail with `failure` there. */
  function failingSource(bytes: Buffer, failAt: number, failure: Error): ByteSource {
    return {
      size: bytes.length,
      createReadStream: (start, end) =>
        Readable.from(
          (function* () {
            for (let at = start; at < end; at += 1024) {
              if (start < failAt && at >= failAt) throw failure;
              yield bytes.subarray(at, Math.min(end, at + 1024));
            }
          })(),
          { objectMode: false },
        ),
    };
  }

  it('an error of the storage comes out as it is, not as a file error (JSON)', async () => {
    const failure = new Error('connection lost');
    const bytes = Buffer.from(conversationsJson(), 'utf8');
    const opened = await openImport(failingSource(bytes, 20_000, failure));
    const read: unknown[] = [];
    await expect(
      (async () => {
        for await (const item of opened.conversations) read.push(item);
      })(),
    ).rejects.toBe(failure);
    expect(read.length).toBeGreaterThan(0);
  });

  it('an error of the storage comes out as it is, not as a file error (ZIP)', async () => {
    const failure = new Error('connection lost');
    const bytes = zipBytes([
      { name: 'conversations.json', data: conversationsJson(), method: 'store' },
    ]);
    // the entry's bytes (the table of contents, at the end, reads well)
    const opened = await openImport(failingSource(bytes, 30_000, failure));
    await expect(
      (async () => {
        for await (const item of opened.conversations) void item;
      })(),
    ).rejects.toBe(failure);
    // the table of contents
    await expect(openImport(failingSource(bytes, bytes.length - 5000, failure))).rejects.toBe(
      failure,
    );
    // the first bytes
    await expect(openImport(failingSource(bytes, 1, failure))).rejects.toBe(failure);
  });

  it('leaving the loop early, or close() without reading, destroys every stream it opened', async () => {
    for (const bytes of [
      Buffer.from(conversationsJson(), 'utf8'),
      zipBytes([{ name: 'conversations.json', data: conversationsJson() }]),
    ]) {
      const streams: Readable[] = [];
      const inner = bufferByteSource(bytes, 512);
      const source: ByteSource = {
        size: inner.size,
        createReadStream: (start, end) => {
          const stream = inner.createReadStream(start, end);
          streams.push(stream);
          return stream;
        },
      };
      const opened = await openImport(source);
      for await (const item of opened.conversations) {
        expect(item.index).toBe(0);
        break;
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(streams.filter((s) => !s.destroyed && !s.readableEnded)).toEqual([]);

      streams.length = 0;
      const unread = await openImport(source);
      unread.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(streams.filter((s) => !s.destroyed && !s.readableEnded)).toEqual([]);
    }
  });
});

describe('sniffFormat', () => {
  const sniff = (text: string) => sniffFormat(Buffer.from(text, 'latin1'));

  it('tells the formats from their first bytes', () => {
    expect(sniff('PK\u0003\u0004rest')).toBe('chatgpt-zip');
    expect(sniff('[')).toBe('chatgpt');
    expect(sniff('\u00ef\u00bb\u00bf \r\n\t[{')).toBe('chatgpt');
    expect(sniff('{"format":"chat-backend.export"')).toBe('chat-backend.export');
    expect(sniff('{\n  "format" : "chat-backend.export",\n  "version": 1')).toBe(
      'chat-backend.export',
    );
  });

  it('asks for more bytes while they are too few to tell', () => {
    for (const head of [
      '',
      'P',
      'PK\u0003',
      '  ',
      '\u00ef\u00bb',
      '{',
      '{ "form',
      '{"format": "chat-',
    ]) {
      expect([head, sniff(head)]).toEqual([head, 'more']);
    }
    expect(sniffFormat(Buffer.alloc(4096, 0x20))).toBe('unknown');
  });

  it('refuses everything else', () => {
    for (const head of [
      'PK\u0005\u0006',
      'Pk',
      '{"rooms": []',
      '{"format": "other"',
      '"x"',
      'null',
      '<html>',
      '\u00ef\u00bb[',
    ]) {
      expect([head, sniff(head)]).toEqual([head, 'unknown']);
    }
  });
});
