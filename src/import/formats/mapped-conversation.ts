import { MAX_MESSAGE_LENGTH } from '../../chat/dto/create-message.dto';
import type { MessageRole, MessageStatus } from '../../chat/entities/message.entity';

/** One message of a conversation as a room will hold it; ids are the file's own. */
export interface MappedMessage {
  /** The message's id in the file (a ChatGPT `mapping` key, or our message id). */
  sourceId: string;
  /** The kept message it follows (a `sourceId` of the same conversation), or null for a root. */
  parentSourceId: string | null;
  role: MessageRole;
  /** 1 to 32,000 UTF-16 code units, storable (no NUL, no lone surrogate), not only white space. */
  content: string;
  status: MessageStatus;
  /** ISO-8601 with milliseconds, at least 1 ms after its parent's. */
  createdAt: string;
  model: string | null;
}

/** One conversation of a file, ready to be stored as one room. */
export interface MappedConversation {
  /** What identifies it across imports: ChatGPT's `conversation_id` (or `id`), our room `id`. */
  sourceId: string;
  /** 1 to 200 characters, trimmed. */
  title: string;
  createdAt: string;
  /** Never before `createdAt` nor before its newest message. */
  updatedAt: string;
  /** The room's model and system prompt (our own export only; null from ChatGPT). */
  model: string | null;
  systemPrompt: string | null;
  /** Every parent before its children (they are in `createdAt` order, then file order). */
  messages: MappedMessage[];
  /** The `sourceId` of the message to make active; null only when there are no messages. */
  activeSourceId: string | null;
  /** What was changed on the way (cut messages, re-rooted messages, …), for the item's reason. */
  notes: string[];
}

/** A conversation that cannot be imported; the others go on. */
export interface FailedConversation {
  /** Why, as a sentence for the person importing. */
  failed: string;
  sourceId: string | null;
  title: string | null;
}

export interface MapOptions {
  /** Most messages kept for one conversation (ImportLimits.maxMessagesPerConversation). */
  maxMessages?: number;
  /** The time given to a conversation that has none at all (default: now). */
  now?: Date;
}

export function isFailedConversation(
  value: MappedConversation | FailedConversation,
): value is FailedConversation {
  return 'failed' in value;
}

export const MAX_CONTENT_LENGTH = MAX_MESSAGE_LENGTH;
export const MAX_TITLE_LENGTH = 200;
/** A ChatGPT conversation without a title gets this one. */
export const DEFAULT_IMPORT_TITLE = 'Imported chat';
/** Most characters of a source id (conversation_id, room id) kept for the report. */
export const MAX_SOURCE_ID_LENGTH = 255;
/** Most characters of a `model` (the column's width). */
export const MAX_MODEL_LENGTH = 200;

// Times outside these are treated as missing: before 1970 is no chat, and far-future years
// would not survive the trip to PostgreSQL and back as ISO strings.
const MIN_TIME_MS = 0;
const MAX_TIME_MS = Date.UTC(9000, 0, 1);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A time in milliseconds inside the range we store, else null. */
export function validTimeMs(ms: number): number | null {
  return Number.isFinite(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? ms : null;
}

/**
 * `text` with what PostgreSQL `text` cannot hold replaced by U+FFFD: NUL and unpaired surrogates
 * (which would otherwise become U+FFFD silently on the way to UTF-8). `changed` says whether
 * anything was replaced.
 */
export function storableText(text: string): { text: string; changed: boolean } {
  if (!text.includes('\u0000') && text.isWellFormed()) return { text, changed: false };
  return { text: text.replaceAll('\u0000', '\uFFFD').toWellFormed(), changed: true };
}

/** The first `max` UTF-16 code units of `text`, one fewer when that would split a surrogate pair. */
export function cutText(text: string, max: number): { text: string; cut: boolean } {
  if (text.length <= max) return { text, cut: false };
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { text: text.slice(0, end), cut: true };
}

/** A title as rooms hold it: storable, trimmed, 1 to 200 characters; `fallback` when empty. */
export function roomTitle(value: unknown, fallback = DEFAULT_IMPORT_TITLE): string {
  if (typeof value !== 'string') return fallback;
  const title = cutText(storableText(value).text.trim(), MAX_TITLE_LENGTH).text.trim();
  return title === '' ? fallback : title;
}

export interface TreeItem {
  id: string;
  /** Another item's id, or null for a root. */
  parentId: string | null;
  /** The time the file gives (ms), or null when it gives none. */
  timeMs: number | null;
}

export interface ArrangedTree {
  /** Item indexes, every parent before its children: by normalised time, then file order. */
  order: number[];
  /**
   * Normalised times: a root keeps its own (or `rootFallbackMs`); a child gets its own when it
   * is at least 1 ms after its parent's, else its parent's + 1 ms — the active-path reads
   * need every child newer than its parent.
   */
  timesMs: number[];
}

/**
 * Orders a forest and normalises its times, without recursion (a path may be thousands deep).
 * Every parentId must be another item's id; null when the parent links hold a cycle.
 */
export function arrangeTree(items: TreeItem[], rootFallbackMs: number): ArrangedTree | null {
  const indexOf = new Map<string, number>();
  items.forEach((item, index) => indexOf.set(item.id, index));
  const children: number[][] = items.map(() => []);
  const queue: number[] = [];
  for (const [index, item] of items.entries()) {
    if (item.parentId === null) {
      queue.push(index);
      continue;
    }
    const parent = indexOf.get(item.parentId);
    if (parent === undefined || parent === index) return null;
    children[parent].push(index);
  }
  const timesMs = new Array<number>(items.length);
  for (const root of queue) timesMs[root] = items[root].timeMs ?? rootFallbackMs;
  for (let head = 0; head < queue.length; head++) {
    const parent = queue[head];
    for (const child of children[parent]) {
      timesMs[child] = Math.max(items[child].timeMs ?? -Infinity, timesMs[parent] + 1);
      queue.push(child);
    }
  }
  if (queue.length !== items.length) return null;
  const order = items.map((_, index) => index);
  order.sort((a, b) => timesMs[a] - timesMs[b] || a - b);
  return { order, timesMs };
}

/**
 * The leaf (an item nobody follows) with the newest normalised time, the later in file order
 * on a tie: the active message when the file names none, as the branches routes pick one.
 */
export function newestLeaf(items: TreeItem[], tree: ArrangedTree): number | null {
  const parents = new Set(items.map((item) => item.parentId));
  let best: number | null = null;
  for (const [index, item] of items.entries()) {
    if (parents.has(item.id)) continue;
    if (best === null || tree.timesMs[index] >= tree.timesMs[best]) best = index;
  }
  return best;
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** "What happened: 3 messages (a, b, c)" — a note naming at most five of them. */
export function countedNote(ids: string[], what: string): string {
  const named = ids.slice(0, 5).join(', ');
  const more = ids.length > 5 ? `, and ${ids.length - 5} more` : '';
  const count = `${ids.length} ${ids.length === 1 ? 'message' : 'messages'}`;
  return `${what}: ${count} (${named}${more}).`;
}
