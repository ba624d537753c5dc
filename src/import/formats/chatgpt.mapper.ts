import type { MessageRole } from '../../chat/entities/message.entity';
import { DEFAULT_IMPORT_LIMITS } from './import-limits';
import {
  type FailedConversation,
  type MapOptions,
  type MappedConversation,
  type MappedMessage,
  type TreeItem,
  MAX_CONTENT_LENGTH,
  MAX_MODEL_LENGTH,
  MAX_SOURCE_ID_LENGTH,
  MAX_TITLE_LENGTH,
  arrangeTree,
  countedNote,
  cutText,
  isObject,
  isoTime,
  newestLeaf,
  roomTitle,
  storableText,
  validTimeMs,
} from './mapped-conversation';

const KEPT_ROLES = new Set<string>(['user', 'assistant', 'system']);

/**
 * Content types that are not the conversation's text: a reasoning model's hidden thoughts and
 * their "Thought for 5 s" recap, the custom instructions and memory ChatGPT slips into the
 * thread (they are normally also flagged hidden).
 */
const LEFT_OUT_CONTENT_TYPES = new Set([
  'thoughts',
  'reasoning_recap',
  'user_editable_context',
  'model_editable_context',
]);

/** Placeholders of the non-text parts we know; other `*_asset_pointer`s are named after their type. */
const PART_KINDS: Record<string, string> = {
  image_asset_pointer: 'image',
  audio_asset_pointer: 'audio',
  video_container_asset_pointer: 'video',
  real_time_user_audio_video_asset_pointer: 'audio',
  file_asset_pointer: 'file',
};

/**
 * One element of ChatGPT's `conversations.json` as a room (see API.md "Export and import"):
 * the whole `mapping` tree, `current_node` as the active message, only the visible messages of
 * users, the assistant and the system. Never throws: anything it cannot use is left out (with a
 * note when the person would want to know) or fails the conversation with a reason.
 */
export function mapChatGptConversation(
  value: unknown,
  options: MapOptions = {},
): MappedConversation | FailedConversation {
  const maxMessages = options.maxMessages ?? DEFAULT_IMPORT_LIMITS.maxMessagesPerConversation;
  if (!isObject(value)) {
    return { failed: 'The conversation is not a JSON object.', sourceId: null, title: null };
  }
  const sourceId = conversationId(value);
  const failedTitle = typeof value.title === 'string' ? roomTitle(value.title) : null;
  const fail = (failed: string): FailedConversation => ({
    failed,
    sourceId: sourceId.id,
    title: failedTitle,
  });
  if (sourceId.error !== null) return fail(sourceId.error);
  const mapping = value.mapping;
  if (!isObject(mapping)) return fail('The conversation has no `mapping` (its messages).');

  const notes: string[] = [];
  const keys = Object.keys(mapping);
  const indexOf = new Map<string, number>();
  keys.forEach((key, index) => indexOf.set(key, index));

  // Parents: `parent` names it; a node without the field is a child of whoever lists it in
  // `children`; a parent missing from `mapping` (or the node itself) makes a root.
  const listedBy = new Map<string, number>();
  keys.forEach((key, index) => {
    const node = mapping[key];
    const children = isObject(node) ? node.children : undefined;
    if (!Array.isArray(children)) return;
    for (const child of children) {
      if (typeof child === 'string' && !listedBy.has(child)) listedBy.set(child, index);
    }
  });
  const parent = new Int32Array(keys.length).fill(-1);
  const dangling: string[] = [];
  keys.forEach((key, index) => {
    const node = mapping[key];
    const raw = isObject(node) ? node.parent : null;
    if (typeof raw === 'string') {
      const found = indexOf.get(raw);
      if (found === undefined) dangling.push(key);
      else if (found !== index) parent[index] = found;
    } else if (raw === undefined) {
      parent[index] = listedBy.get(key) ?? -1;
    }
  });
  const cycles = breakCycles(parent);
  if (cycles.length > 0) {
    notes.push(
      countedNote(
        cycles.map((i) => keys[i]),
        'Parents in a loop: made first messages',
      ),
    );
  }

  // Which nodes become messages, and what they say.
  const kept: (Omit<MappedMessage, 'parentSourceId' | 'createdAt'> & { timeMs: number | null })[] =
    [];
  const keptIndexOf = new Int32Array(keys.length).fill(-1);
  const cutIds: string[] = [];
  const cleanedIds: string[] = [];
  keys.forEach((key, index) => {
    const node = mapping[key];
    const message = isObject(node) && isObject(node.message) ? node.message : null;
    if (message === null) return;
    const author = isObject(message.author) ? message.author : null;
    const role = typeof author?.role === 'string' ? author.role : null;
    if (role === null || !KEPT_ROLES.has(role)) return;
    const metadata = isObject(message.metadata) ? message.metadata : null;
    if (metadata?.is_visually_hidden_from_conversation === true) return;
    const stored = storableText(messageText(message.content, metadata));
    if (stored.text.trim() === '') return;
    const content = cutText(stored.text, MAX_CONTENT_LENGTH);
    if (content.cut) cutIds.push(key);
    if (stored.changed) cleanedIds.push(key);
    keptIndexOf[index] = kept.length;
    kept.push({
      sourceId: key,
      role: role as MessageRole,
      content: content.text,
      status: 'complete',
      model: modelOf(metadata),
      timeMs: secondsToMs(message.create_time),
    });
  });
  if (kept.length === 0) return fail('The conversation has no visible message.');
  if (kept.length > maxMessages) {
    return fail(
      `The conversation has ${kept.length} messages, more than the ${maxMessages} one room may hold.`,
    );
  }
  if (cutIds.length > 0) {
    notes.push(countedNote(cutIds, `Cut at ${MAX_CONTENT_LENGTH.toLocaleString('en')} characters`));
  }
  if (cleanedIds.length > 0) {
    notes.push(countedNote(cleanedIds, 'Characters that cannot be stored replaced by \uFFFD'));
  }
  if (dangling.length > 0) {
    notes.push(countedNote(dangling, 'Parent not in the conversation: made first messages'));
  }

  // A left-out node hands its children to its nearest kept ancestor: going down from the
  // roots, each node's kept ancestor is its parent when kept, else its parent's.
  const children: number[][] = keys.map(() => []);
  const queue: number[] = [];
  parent.forEach((p, index) => (p === -1 ? queue.push(index) : children[p].push(index)));
  const keptAncestor = new Int32Array(keys.length).fill(-1);
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head];
    for (const child of children[node]) {
      keptAncestor[child] = keptIndexOf[node] !== -1 ? node : keptAncestor[node];
      queue.push(child);
    }
  }
  const items: TreeItem[] = kept.map((message) => {
    const above = keptAncestor[indexOf.get(message.sourceId)!];
    return {
      id: message.sourceId,
      parentId: above === -1 ? null : keys[above],
      timeMs: message.timeMs,
    };
  });

  const givenCreated = secondsToMs(value.create_time);
  const earliest = kept.reduce<number | null>(
    (min, m) => (m.timeMs !== null && (min === null || m.timeMs < min) ? m.timeMs : min),
    null,
  );
  const createdMs = givenCreated ?? earliest ?? (options.now ?? new Date()).getTime();
  // Acyclic by construction (breakCycles), and every parentId is a kept node.
  const tree = arrangeTree(items, createdMs)!;

  // The active message: current_node, or the nearest kept node above it.
  let active: number | null = null;
  const current = typeof value.current_node === 'string' ? indexOf.get(value.current_node) : null;
  if (current !== undefined && current !== null) {
    let node = current;
    while (node !== -1 && keptIndexOf[node] === -1) node = parent[node];
    if (node !== -1) active = keptIndexOf[node];
  }
  if (active === null) {
    active = newestLeaf(items, tree);
    notes.push(
      current === undefined || current === null
        ? 'The conversation names no current message: its newest message is the active one.'
        : 'Nothing above the current message was kept: the newest message is the active one.',
    );
  }

  const messages: MappedMessage[] = tree.order.map((index) => ({
    sourceId: kept[index].sourceId,
    parentSourceId: items[index].parentId,
    role: kept[index].role,
    content: kept[index].content,
    status: kept[index].status,
    createdAt: isoTime(tree.timesMs[index]),
    model: kept[index].model,
  }));
  const lastMs = messages.length > 0 ? tree.timesMs[tree.order[tree.order.length - 1]] : createdMs;
  const updatedMs = Math.max(secondsToMs(value.update_time) ?? createdMs, createdMs, lastMs);
  return {
    sourceId: sourceId.id!,
    title: roomTitle(value.title),
    createdAt: isoTime(createdMs),
    updatedAt: isoTime(updatedMs),
    model: null,
    systemPrompt: null,
    messages,
    activeSourceId: active === null ? null : kept[active].sourceId,
    notes,
  };
}

/** `conversation_id`, else `id`: what a second import of the same conversation is known by. */
function conversationId(value: Record<string, unknown>): {
  id: string | null;
  error: string | null;
} {
  for (const raw of [value.conversation_id, value.id]) {
    const id =
      typeof raw === 'string' ? raw.trim() : typeof raw === 'number' ? String(raw) : undefined;
    if (id === undefined || id === '') continue;
    const storable = storableText(id);
    if (storable.changed || id.length > MAX_SOURCE_ID_LENGTH) {
      return {
        id: cutText(storable.text, MAX_TITLE_LENGTH).text,
        error: `The conversation's id is not an id we can keep (more than ${MAX_SOURCE_ID_LENGTH} characters or unreadable ones).`,
      };
    }
    return { id, error: null };
  }
  return { id: null, error: 'The conversation has no `conversation_id` or `id`.' };
}

/** ChatGPT's times are seconds since 1970, with a fraction; milliseconds are kept. */
function secondsToMs(value: unknown): number | null {
  if (typeof value === 'number') return validTimeMs(Math.round(value * 1000));
  if (typeof value !== 'string' || value.trim() === '') return null;
  const seconds = Number(value);
  return validTimeMs(Number.isFinite(seconds) ? Math.round(seconds * 1000) : Date.parse(value));
}

function modelOf(metadata: Record<string, unknown> | null): string | null {
  const slug = metadata?.model_slug;
  if (typeof slug !== 'string') return null;
  const model = cutText(storableText(slug).text.trim(), MAX_MODEL_LENGTH).text;
  return model === '' ? null : model;
}

/**
 * A message's text: its text parts joined by a blank line, code fenced, every other part a
 * short placeholder naming its kind, attached files (metadata.attachments) first, as ChatGPT
 * shows them above the message.
 */
function messageText(content: unknown, metadata: Record<string, unknown> | null): string {
  const pieces: string[] = [];
  let images = 0;
  if (isObject(content)) {
    const type = typeof content.content_type === 'string' ? content.content_type : 'text';
    if (LEFT_OUT_CONTENT_TYPES.has(type)) return '';
    if (type === 'code') {
      if (typeof content.text === 'string' && content.text.trim() !== '') {
        pieces.push(fenced(content.text, content.language));
      }
    } else if (Array.isArray(content.parts)) {
      for (const part of content.parts) {
        if (typeof part === 'string') {
          if (part.trim() !== '') pieces.push(part);
        } else if (isObject(part)) {
          // audio_transcription (voice chats) and other parts that carry their own text
          if (typeof part.text === 'string') {
            if (part.text.trim() !== '') pieces.push(part.text);
            continue;
          }
          const kind = partKind(part.content_type);
          if (kind === 'image') images += 1;
          pieces.push(`[${kind}]`);
        }
      }
    } else if (typeof content.text === 'string' && content.text.trim() !== '') {
      pieces.push(content.text);
    }
  }
  return [...attachmentPlaceholders(metadata, images > 0), ...pieces].join('\n\n');
}

function partKind(type: unknown): string {
  if (typeof type !== 'string') return 'attachment';
  const known = PART_KINDS[type];
  if (known !== undefined) return known;
  const kind = type
    .replace(/_asset_pointer$/, '')
    .replace(/[^A-Za-z0-9]+/g, ' ')
    .trim()
    .slice(0, 40);
  return kind === '' ? 'attachment' : kind;
}

/**
 * `[file: name.pdf]` for every uploaded file; an uploaded image is already an image part, so
 * it is named here only when the message has no image part.
 */
function attachmentPlaceholders(
  metadata: Record<string, unknown> | null,
  hasImageParts: boolean,
): string[] {
  const attachments = metadata?.attachments;
  if (!Array.isArray(attachments)) return [];
  const placeholders: string[] = [];
  for (const attachment of attachments) {
    if (!isObject(attachment)) continue;
    const mime = typeof attachment.mime_type === 'string' ? attachment.mime_type : '';
    const isImage = mime.startsWith('image/');
    if (isImage && hasImageParts) continue;
    const kind = isImage ? 'image' : 'file';
    const name =
      typeof attachment.name === 'string'
        ? cutText(attachment.name.replace(/[\s\]]+/g, ' ').trim(), 100).text
        : '';
    placeholders.push(name === '' ? `[${kind}]` : `[${kind}: ${name}]`);
  }
  return placeholders;
}

/** A Markdown code block, its fence longer than any run of backticks inside (CommonMark 4.5). */
function fenced(code: string, language: unknown): string {
  const longestRun = (code.match(/`+/g) ?? []).reduce((max, run) => Math.max(max, run.length), 0);
  const fence = '`'.repeat(Math.max(3, longestRun + 1));
  const lang =
    typeof language === 'string' && language !== 'unknown' && /^[\w.+#-]{1,32}$/.test(language)
      ? language
      : '';
  return `${fence}${lang}\n${code.replace(/\n$/, '')}\n${fence}`;
}

/**
 * Makes the parent links a forest: a node whose parents lead back to itself stops being a
 * child (the first node of each loop met becomes a root). Returns the nodes made roots.
 */
function breakCycles(parent: Int32Array): number[] {
  const state = new Uint8Array(parent.length); // 0 unseen, 1 on the current walk, 2 done
  const roots: number[] = [];
  for (let start = 0; start < parent.length; start++) {
    if (state[start] !== 0) continue;
    const walk: number[] = [];
    let node = start;
    while (node !== -1 && state[node] === 0) {
      state[node] = 1;
      walk.push(node);
      node = parent[node];
    }
    if (node !== -1 && state[node] === 1) {
      parent[node] = -1;
      roots.push(node);
    }
    for (const done of walk) state[done] = 2;
  }
  return roots;
}
