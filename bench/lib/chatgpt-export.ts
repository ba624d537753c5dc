/**
 * A ChatGPT data export made up for the import bench: `conversations.json` (a JSON array of
 * conversations, each a `mapping` tree of nodes) in the shape of the real one
 * (test/fixtures/chatgpt/*.json), written to disk one conversation at a time, never whole in
 * memory, and optionally wrapped in a ZIP as ChatGPT delivers it. The same options give the
 * same bytes.
 *
 * Per conversation of `messages` visible messages: a hidden system message first (under a
 * `client-created-root` node without message in half of them), users and the assistant taking
 * turns; one in three has regenerated answers (an older sibling answer left as a leaf), one in
 * six an edited question (a newer branch of a few messages, where `current_node` points); one
 * user message in 25 is multimodal (an image part and an attachment); `model_slug` on answers;
 * fractional `create_time`s; texts mixing ASCII, quotes, backslashes, new lines, tabs, code
 * fences, Korean and emoji. Every visible message is kept by the importer, so a conversation
 * becomes a room of exactly `messages` messages.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { once } from 'node:events';
import { crc32, createDeflateRaw } from 'node:zlib';
import { corpus, intBetween, logUniform, pick, prng, type Random } from './random';

export interface ChatGptExportOptions {
  conversations: number;
  /** Visible messages per conversation (branches included); at least 2. */
  messages: number;
  seed?: number;
}

export interface GeneratedExport {
  path: string;
  bytes: number;
  conversations: number;
  /** Messages the importer keeps: `conversations × messages`. */
  messages: number;
  /** Conversations with a regenerated answer, and with an edited question (a branch). */
  regenerated: number;
  edited: number;
  multimodal: number;
}

/** Pieces that JSON, UTF-8 and Markdown treat apart, set between runs of word salad. */
const SPECIAL = [
  'He said "hello" and then "goodbye".',
  'Files live in C:\\Users\\me\\Documents\\notes.txt; the regex is \\d+\\s*\\w+.',
  '서울에서 만나요. 오늘 날씨가 정말 좋네요! 😀🎉',
  '한국어로 설명해 주세요: "데이터베이스 인덱스"가 뭔가요?',
  'Emoji: 👍🏽 🇰🇷 👨‍👩‍👧 ✨',
  "It's l'apostrophe, and a backslash at the end \\",
  'Columns:\tname\tvalue\tunit',
  '```python\nprint("hello\\nworld")\nfor i in range(3):\n    print(i)\n```',
  '```sql\nSELECT id, "title" FROM chat_rooms WHERE owner_id = $1;\n```',
  '- first point\n- second point with **bold** and `code`\n',
  'Ça va? Les "guillemets" et l\'apostrophe — naïve café.',
  'Line one\nLine two\n\nA new paragraph after a blank line.',
];

const TITLES = [
  'Sourdough starter names',
  'SQL index question',
  '서울 빵집 추천 🥐',
  'Explain "backpressure" in Node.js',
  'Trip plan: Busan ✈️',
  'Regex for C:\\paths',
  'Python async help',
  '회의록 요약',
  'Birthday gift ideas 🎁',
  'Fix my TypeScript error',
];

const MODELS = ['gpt-4o', 'gpt-4o', 'gpt-4o-mini', 'gpt-4', 'o1', 'text-davinci-002-render-sha'];

/** A deterministic id in the form of a UUID (ChatGPT's node and conversation ids). */
function uuid(random: Random): string {
  const hex = (n: number) =>
    Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(random() * 16)]).join('');
  return `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`;
}

/** The text source messages are cut from: word salad with SPECIAL pieces every few lines. */
function textSource(random: Random): string {
  const parts: string[] = [];
  let size = 0;
  while (size < 512 * 1024) {
    const salad = corpus(random, intBetween(random, 80, 600));
    const special = pick(random, SPECIAL);
    parts.push(salad, special);
    size += salad.length + special.length + 2;
  }
  return parts.join(' ');
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;

/** About `length` characters of the source, never blank, never a half of a surrogate pair. */
function textOf(random: Random, source: string, length: number): string {
  let start = Math.floor(random() * (source.length - length - 2));
  let end = start + length;
  if (start > 0 && isHighSurrogate(source.charCodeAt(start - 1))) start += 1;
  if (isHighSurrogate(source.charCodeAt(end - 1))) end += 1;
  const text = source.slice(start, end).trim();
  return text === '' ? 'ok' : text;
}

interface Node {
  id: string;
  role: 'system' | 'user' | 'assistant';
  parent: string | null;
  children: string[];
  time: number | null;
  hidden?: boolean;
  multimodal?: boolean;
  text: string;
}

/** Conversation `index` as the JSON value ChatGPT writes. */
function conversation(
  index: number,
  messages: number,
  random: Random,
  source: string,
  counts: { regenerated: number; edited: number; multimodal: number },
): Record<string, unknown> {
  const model = pick(random, MODELS);
  // ChatGPT's times: seconds with a microsecond fraction.
  const created = 1_690_000_000 + index * 3_517 + Math.floor(random() * 1e6) / 1e6;
  let clock = created;
  const tick = () => {
    clock += intBetween(random, 2, 90) + Math.floor(random() * 1e6) / 1e6;
    return Math.round(clock * 1e6) / 1e6;
  };
  const nodes = new Map<string, Node>();
  const add = (node: Omit<Node, 'children'>): Node => {
    const made = { ...node, children: [] };
    nodes.set(made.id, made);
    if (node.parent !== null) nodes.get(node.parent)!.children.push(made.id);
    return made;
  };
  const say = (role: 'user' | 'assistant', parent: string): Node => {
    const multimodal = role === 'user' && random() < 0.04;
    if (multimodal) counts.multimodal += 1;
    const length = role === 'user' ? logUniform(random, 8, 400) : logUniform(random, 20, 1_200);
    return add({
      id: uuid(random),
      role,
      parent,
      time: tick(),
      multimodal,
      text: textOf(random, source, length),
    });
  };

  let top: string | null = null;
  if (index % 2 === 0)
    top = add({ id: 'client-created-root', role: 'system', parent: null, time: null, text: '' }).id;
  const system = add({
    id: uuid(random),
    role: 'system',
    parent: top,
    time: null,
    hidden: true,
    text: '',
  });

  // Which branch: a regenerated answer (1 extra message), an edited question (a branch of
  // `branch` messages), or one line.
  const kind =
    index % 6 === 5 && messages >= 6
      ? 'edit'
      : index % 3 === 1 && messages >= 3
        ? 'regenerate'
        : 'line';
  const branch =
    kind === 'edit' ? 2 * intBetween(random, 1, Math.min(3, Math.floor((messages - 2) / 4))) : 0;
  const line = messages - (kind === 'regenerate' ? 1 : branch);
  // Where the branch starts: an answer (odd position) to regenerate, a question (even) to edit.
  const at =
    kind === 'regenerate'
      ? 1 + 2 * intBetween(random, 0, Math.floor((line - 2) / 2))
      : kind === 'edit'
        ? 2 * intBetween(random, 0, Math.floor((line - 1) / 2))
        : -1;

  let parent = system.id;
  const path: string[] = [];
  let current = '';
  for (let i = 0; i < line; i++) {
    const role = i % 2 === 0 ? 'user' : 'assistant';
    if (kind === 'regenerate' && i === at) {
      say(role, parent); // the first answer, regenerated: a leaf the line does not go on from
      counts.regenerated += 1;
    }
    const node = say(role, parent);
    path.push(parent);
    parent = node.id;
  }
  current = parent;
  if (kind === 'edit') {
    // Edited later: a newer question beside the one at `at`, and the answers that followed.
    counts.edited += 1;
    let from = path[at];
    for (let i = 0; i < branch; i++) {
      from = say(i % 2 === 0 ? 'user' : 'assistant', from).id;
    }
    current = from;
  }

  const mapping: Record<string, unknown> = {};
  for (const node of nodes.values()) mapping[node.id] = mappingNode(node, model, random);
  const id = uuid(random);
  return {
    title: `${pick(random, TITLES)} #${index + 1}`,
    create_time: created,
    update_time: Math.round(clock * 1e6) / 1e6,
    mapping,
    moderation_results: [],
    current_node: current,
    plugin_ids: null,
    conversation_id: id,
    conversation_template_id: null,
    gizmo_id: null,
    gizmo_type: null,
    is_archived: false,
    is_starred: null,
    safe_urls: [],
    blocked_urls: [],
    default_model_slug: model,
    conversation_origin: null,
    voice: null,
    async_status: null,
    disabled_tool_ids: [],
    is_do_not_remember: false,
    memory_scope: 'global_enabled',
    sugar_item_id: null,
    id,
  };
}

/** One node of `mapping`, with the fields a real export has. */
function mappingNode(node: Node, model: string, random: Random): Record<string, unknown> {
  if (node.id === 'client-created-root') {
    return { id: node.id, message: null, parent: null, children: node.children };
  }
  const requestId = `${Math.floor(random() * 0xffffffff)
    .toString(16)
    .padStart(8, '0')}-ICN`;
  let content: Record<string, unknown> = { content_type: 'text', parts: [node.text] };
  let metadata: Record<string, unknown>;
  if (node.role === 'system') {
    metadata = { is_visually_hidden_from_conversation: true };
  } else if (node.role === 'user') {
    metadata = {
      request_id: requestId,
      message_source: null,
      timestamp_: 'absolute',
      message_type: null,
    };
    if (node.multimodal) {
      const file = `file-${uuid(random).replace(/-/g, '').slice(0, 22)}`;
      const size = intBetween(random, 20_000, 900_000);
      content = {
        content_type: 'multimodal_text',
        parts: [
          {
            content_type: 'image_asset_pointer',
            asset_pointer: `file-service://${file}`,
            size_bytes: size,
            width: 1024,
            height: 768,
            fovea: null,
            metadata: { dalle: null, gizmo: null, generation: null, sanitized: true },
          },
          node.text,
        ],
      };
      metadata.attachments = [
        { id: file, size, name: 'photo.jpg', mime_type: 'image/jpeg', width: 1024, height: 768 },
      ];
    }
  } else {
    metadata = {
      finish_details: { type: 'stop', stop_tokens: [200002] },
      is_complete: true,
      citations: [],
      content_references: [],
      model_slug: model,
      default_model_slug: model,
      parent_id: node.parent,
      request_id: requestId,
      timestamp_: 'absolute',
    };
  }
  return {
    id: node.id,
    message: {
      id: node.id,
      author: { role: node.role, name: null, metadata: {} },
      create_time: node.time,
      update_time: null,
      content,
      status: 'finished_successfully',
      end_turn: node.role === 'user' ? null : true,
      weight: node.role === 'system' ? 0 : 1,
      metadata,
      recipient: 'all',
      channel: null,
    },
    parent: node.parent,
    children: node.children,
  };
}

async function write(out: WriteStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

/** Writes `conversations.json` to `path`, one conversation at a time. */
export async function writeChatGptExport(
  path: string,
  options: ChatGptExportOptions,
): Promise<GeneratedExport> {
  if (options.messages < 2) throw new RangeError('--messages must be at least 2');
  const random = prng(options.seed ?? 20261203);
  const source = textSource(random);
  const counts = { regenerated: 0, edited: 0, multimodal: 0 };
  const out = createWriteStream(path, { highWaterMark: 1024 * 1024 });
  await once(out, 'open');
  let bytes = 0;
  const put = async (text: string) => {
    bytes += Buffer.byteLength(text);
    await write(out, text);
  };
  await put('[');
  for (let i = 0; i < options.conversations; i++) {
    const value = conversation(i, options.messages, random, source, counts);
    await put((i === 0 ? '' : ',\n') + JSON.stringify(value));
  }
  await put(']\n');
  out.end();
  await once(out, 'close');
  return {
    path,
    bytes,
    conversations: options.conversations,
    messages: options.conversations * options.messages,
    ...counts,
  };
}

/**
 * Wraps the file at `jsonPath` in a ZIP at `zipPath` as its entry `name`, deflated, streamed
 * from disk (APPNOTE 6.3, no ZIP64: under 4 GiB). The local header is written first with zero
 * sizes and CRC and filled in once the data is through, as the central directory is.
 */
export async function writeZip(jsonPath: string, zipPath: string, name: string): Promise<number> {
  const file = await open(zipPath, 'w');
  try {
    const nameBytes = Buffer.from(name, 'utf8');
    const header = (signature: number, central: boolean) => {
      const buffer = Buffer.alloc(central ? 46 : 30);
      let at = 0;
      const u16 = (value: number) => (at = buffer.writeUInt16LE(value, at));
      buffer.writeUInt32LE(signature, 0);
      at = 4;
      if (central) u16(0x0314); // made by: UNIX, 2.0
      u16(20); // version needed
      u16(0x0800); // UTF-8 name
      u16(8); // deflate
      u16(0); // time
      u16(0x5a21); // date: 2025-01-01
      return { buffer, at };
    };
    const local = header(0x04034b50, false);
    local.buffer.writeUInt16LE(nameBytes.length, 26);
    const head = Buffer.concat([local.buffer, nameBytes]);
    await file.write(head, 0, head.length, 0);

    let crc = 0;
    let size = 0;
    let compressed = 0;
    const deflate = createDeflateRaw({ level: 6 });
    const input = createReadStream(jsonPath, { highWaterMark: 1024 * 1024 });
    input.on('data', (chunk) => {
      const bytes = chunk as Buffer;
      crc = crc32(bytes, crc);
      size += bytes.length;
    });
    input.pipe(deflate);
    let position = 30 + nameBytes.length;
    for await (const chunk of deflate) {
      const bytes = chunk as Buffer;
      await file.write(bytes, 0, bytes.length, position);
      position += bytes.length;
      compressed += bytes.length;
    }
    const sizes = Buffer.alloc(12);
    sizes.writeUInt32LE(crc >>> 0, 0);
    sizes.writeUInt32LE(compressed, 4);
    sizes.writeUInt32LE(size, 8);
    await file.write(sizes, 0, 12, 14);

    const central = header(0x02014b50, true);
    sizes.copy(central.buffer, 16);
    central.buffer.writeUInt16LE(nameBytes.length, 28);
    central.buffer.writeUInt32LE((0o100644 << 16) >>> 0, 38); // a regular file
    central.buffer.writeUInt32LE(0, 42); // its local header's offset
    const directory = Buffer.concat([central.buffer, nameBytes]);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(1, 8);
    end.writeUInt16LE(1, 10);
    end.writeUInt32LE(directory.length, 12);
    end.writeUInt32LE(position, 16);
    const tail = Buffer.concat([directory, end]);
    await file.write(tail, 0, tail.length, position);
    return position + directory.length + end.length;
  } finally {
    await file.close();
  }
}
