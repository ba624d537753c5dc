import { MAX_SYSTEM_PROMPT_LENGTH } from '../../chat/dto/create-chat-room.dto';
import {
  MESSAGE_ROLES,
  MESSAGE_STATUSES,
  type MessageRole,
  type MessageStatus,
} from '../../chat/entities/message.entity';
import { DEFAULT_IMPORT_LIMITS } from './import-limits';
import {
  type FailedConversation,
  type MapOptions,
  type MappedConversation,
  type MappedMessage,
  type TreeItem,
  MAX_CONTENT_LENGTH,
  MAX_MODEL_LENGTH,
  MAX_TITLE_LENGTH,
  arrangeTree,
  countedNote,
  isObject,
  isoTime,
  newestLeaf,
  roomTitle,
  validTimeMs,
} from './mapped-conversation';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// What our export writes (Date.prototype.toISOString), and the same with other offsets.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/;

class Invalid extends Error {}

/**
 * One room of our own export document (API.md "Export and import"), checked as strictly as the
 * API checks what it is sent: a room with anything out of place fails as a whole, with the
 * first problem as its reason. A message that was still streaming when it was exported comes
 * back `stopped`, as a fork copies it.
 */
export function mapExportRoom(
  value: unknown,
  options: MapOptions = {},
): MappedConversation | FailedConversation {
  const maxMessages = options.maxMessages ?? DEFAULT_IMPORT_LIMITS.maxMessagesPerConversation;
  if (!isObject(value)) {
    return { failed: 'The room is not a JSON object.', sourceId: null, title: null };
  }
  const sourceId =
    typeof value.id === 'string' && UUID.test(value.id) ? value.id.toLowerCase() : null;
  // the title the report shows when the room fails
  const title = typeof value.title === 'string' ? roomTitle(value.title, '') || null : null;
  try {
    if (sourceId === null) throw new Invalid('The room has no `id` that is a UUID.');
    return mapRoom(value, sourceId, maxMessages);
  } catch (error) {
    if (!(error instanceof Invalid)) throw error;
    return { failed: error.message, sourceId, title };
  }
}

function mapRoom(
  room: Record<string, unknown>,
  sourceId: string,
  maxMessages: number,
): MappedConversation {
  const title = text(room.title, 'title', { min: 1, max: MAX_TITLE_LENGTH, trim: true });
  const createdMs = time(room.createdAt, 'createdAt');
  const updatedMs = time(room.updatedAt, 'updatedAt');
  const model = nullable(room.model, (v) => text(v, 'model', { min: 1, max: MAX_MODEL_LENGTH }));
  const systemPrompt = nullable(room.systemPrompt, (v) =>
    text(v, 'systemPrompt', { min: 0, max: MAX_SYSTEM_PROMPT_LENGTH }),
  );
  if (!Array.isArray(room.messages)) throw new Invalid('The room has no `messages` list.');
  if (room.messages.length > maxMessages) {
    throw new Invalid(
      `The room has ${room.messages.length} messages, more than the ${maxMessages} one room may hold.`,
    );
  }
  const notes: string[] = [];
  const seen = new Set<string>();
  const messages = room.messages.map((raw, index) => {
    const message = exportMessage(raw, index);
    if (seen.has(message.sourceId)) {
      throw new Invalid(`Message ${index + 1} has the id of an earlier message.`);
    }
    seen.add(message.sourceId);
    return message;
  });
  for (const [index, message] of messages.entries()) {
    if (message.parentId !== null && !seen.has(message.parentId)) {
      throw new Invalid(`Message ${index + 1} follows a message that is not in the room.`);
    }
  }
  const activeSourceId = nullable(room.activeMessageId, (v) => {
    const id = uuid(v, 'activeMessageId');
    if (!seen.has(id)) throw new Invalid("The room's active message is not one of its messages.");
    return id;
  });

  const items: TreeItem[] = messages.map((m) => ({
    id: m.sourceId,
    parentId: m.parentId,
    timeMs: m.timeMs,
  }));
  const tree = arrangeTree(items, createdMs);
  if (tree === null) throw new Invalid('The messages of the room follow each other in a loop.');
  let active = activeSourceId;
  if (active === null && items.length > 0) {
    active = items[newestLeaf(items, tree)!].id;
    notes.push('The room names no active message: its newest message is the active one.');
  }
  const stopped = messages.filter((m) => m.exportedStatus === 'streaming').map((m) => m.sourceId);
  if (stopped.length > 0)
    notes.push(countedNote(stopped, 'Still being written when exported: now stopped'));
  const moved = tree.order.filter((i) => tree.timesMs[i] !== messages[i].timeMs);
  if (moved.length > 0) {
    notes.push(
      countedNote(
        moved.map((i) => messages[i].sourceId),
        'Not newer than the message they follow: dated 1 ms after it',
      ),
    );
  }
  const lastMs =
    tree.order.length > 0 ? tree.timesMs[tree.order[tree.order.length - 1]] : createdMs;
  return {
    sourceId,
    title,
    createdAt: isoTime(createdMs),
    updatedAt: isoTime(Math.max(updatedMs, createdMs, lastMs)),
    model,
    systemPrompt,
    messages: tree.order.map((i): MappedMessage => ({
      sourceId: messages[i].sourceId,
      parentSourceId: messages[i].parentId,
      role: messages[i].role,
      content: messages[i].content,
      status: messages[i].exportedStatus === 'streaming' ? 'stopped' : messages[i].exportedStatus,
      createdAt: isoTime(tree.timesMs[i]),
      model: messages[i].model,
    })),
    activeSourceId: active,
    notes,
  };
}

interface ExportMessage {
  sourceId: string;
  parentId: string | null;
  role: MessageRole;
  content: string;
  exportedStatus: MessageStatus;
  model: string | null;
  timeMs: number;
}

function exportMessage(raw: unknown, index: number): ExportMessage {
  const at = `message ${index + 1}`;
  if (!isObject(raw)) throw new Invalid(`The room's ${at} is not a JSON object.`);
  const role = raw.role;
  if (typeof role !== 'string' || !(MESSAGE_ROLES as readonly string[]).includes(role)) {
    throw new Invalid(`The role of ${at} is not one of ${MESSAGE_ROLES.join(', ')}.`);
  }
  const status = raw.status;
  if (typeof status !== 'string' || !(MESSAGE_STATUSES as readonly string[]).includes(status)) {
    throw new Invalid(`The status of ${at} is not one of ${MESSAGE_STATUSES.join(', ')}.`);
  }
  return {
    sourceId: uuid(raw.id, `id of ${at}`),
    parentId: nullable(raw.parentId, (v) => uuid(v, `parentId of ${at}`)),
    role: role as MessageRole,
    // A failed or stopped reply may have no text: the server stores those, so they come back.
    content: text(raw.content, `content of ${at}`, { min: 0, max: MAX_CONTENT_LENGTH }),
    exportedStatus: status as MessageStatus,
    model: nullable(raw.model, (v) => text(v, `model of ${at}`, { min: 1, max: MAX_MODEL_LENGTH })),
    timeMs: time(raw.createdAt, `createdAt of ${at}`),
  };
}

function nullable<T>(value: unknown, read: (value: unknown) => T): T | null {
  return value === null || value === undefined ? null : read(value);
}

function uuid(value: unknown, what: string): string {
  if (typeof value !== 'string' || !UUID.test(value))
    throw new Invalid(`The ${what} is not a UUID.`);
  return value.toLowerCase();
}

function text(
  value: unknown,
  what: string,
  rules: { min: number; max: number; trim?: boolean },
): string {
  if (typeof value !== 'string') throw new Invalid(`The ${what} is not text.`);
  const result = rules.trim ? value.trim() : value;
  if (result.includes('\u0000') || !result.isWellFormed()) {
    throw new Invalid(`The ${what} holds characters that cannot be stored.`);
  }
  if (result.length < rules.min || result.length > rules.max) {
    throw new Invalid(
      `The ${what} is not ${rules.min} to ${rules.max.toLocaleString('en')} characters long.`,
    );
  }
  return result;
}

function time(value: unknown, what: string): number {
  const ms =
    typeof value === 'string' && ISO_TIME.test(value) ? validTimeMs(Date.parse(value)) : null;
  if (ms === null) throw new Invalid(`The ${what} is not an ISO-8601 time.`);
  return ms;
}
