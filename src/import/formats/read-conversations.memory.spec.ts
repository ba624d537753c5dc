import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileByteSource } from './byte-source';
import { isFailedConversation } from './mapped-conversation';
import { openImport } from './read-conversations';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** The JavaScript heap and the memory of Buffers (outside it). */
function used(): number {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const FILE_BYTES = 50 * 1024 * 1024;
const MESSAGES_PER_CONVERSATION = 40;

/** A conversation as ChatGPT exports one: a hidden system root, then user and assistant turns. */
function conversation(n: number): string {
  const id = (i: number) =>
    `${n.toString(16).padStart(8, '0')}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
  const mapping: Record<string, unknown> = {
    [id(0)]: {
      id: id(0),
      message: {
        id: id(0),
        author: { role: 'system', name: null, metadata: {} },
        create_time: null,
        content: { content_type: 'text', parts: [''] },
        metadata: { is_visually_hidden_from_conversation: true },
      },
      parent: null,
      children: [id(1)],
    },
  };
  for (let i = 1; i <= MESSAGES_PER_CONVERSATION; i++) {
    const role = i % 2 === 1 ? 'user' : 'assistant';
    mapping[id(i)] = {
      id: id(i),
      message: {
        id: id(i),
        author: { role, name: null, metadata: {} },
        create_time: 1_717_171_700 + n * 100 + i + 0.25,
        content: {
          content_type: 'text',
          parts: [
            `${role} turn ${i} of conversation ${n}: ${'빵과 버터, bread and butter 🥐 '.repeat(12)}`,
          ],
        },
        status: 'finished_successfully',
        metadata:
          role === 'assistant' ? { model_slug: 'gpt-4o', finish_details: { type: 'stop' } } : {},
        recipient: 'all',
      },
      parent: id(i - 1),
      children: i < MESSAGES_PER_CONVERSATION ? [id(i + 1)] : [],
    };
  }
  return JSON.stringify({
    title: `Conversation ${n}`,
    create_time: 1_717_171_700 + n * 100,
    update_time: 1_717_171_700 + n * 100 + 99,
    mapping,
    current_node: id(MESSAGES_PER_CONVERSATION),
    conversation_id: `conv-${n}`,
    id: `conv-${n}`,
  });
}

/** Writes a conversations.json of at least `bytes` bytes; returns how many conversations. */
async function writeConversations(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path);
  let written = 0;
  let n = 0;
  out.write('[');
  while (written < bytes) {
    const text = (n === 0 ? '' : ',\n') + conversation(n);
    n += 1;
    written += Buffer.byteLength(text);
    if (!out.write(text)) await once(out, 'drain');
  }
  out.end(']\n');
  await once(out, 'finish');
  return n;
}

describe('openImport: memory', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'import-memory-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('streams a 50 MB conversations.json: the memory it holds stays far below the file size', async () => {
    const path = join(dir, 'conversations.json');
    const written = await writeConversations(path, FILE_BYTES);
    const { size } = await stat(path);
    expect(size).toBeGreaterThanOrEqual(FILE_BYTES);

    gc();
    const before = used();
    let held = 0;
    let conversations = 0;
    let messages = 0;
    const opened = await openImport(await fileByteSource(path));
    for await (const item of opened.conversations) {
      if (isFailedConversation(item)) throw new Error(item.failed);
      conversations += 1;
      messages += item.messages.length;
      // What the reader holds between two conversations, a few times through the file:
      // measured after a full collection (slow in a test worker), so that garbage, which V8
      // collects when it likes, does not count.
      if (conversations % 200 === 0) {
        gc();
        held = Math.max(held, used() - before);
      }
    }
    expect(opened.format).toBe('chatgpt');
    expect(conversations).toBe(written);
    expect(messages).toBe(written * MESSAGES_PER_CONVERSATION);
    // The whole file as a string would be about its size; the reader holds one conversation,
    // one waiting, the parser's buffer and the file stream's.
    expect(held).toBeLessThan(size / 10);
  }, 120_000);
});
