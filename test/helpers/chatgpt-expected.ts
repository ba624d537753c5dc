import { DEFAULT_IMPORT_TITLE } from '../../src/import/formats';

/** Most characters of a message (API.md: a longer one is cut there). */
export const MAX_IMPORTED_CONTENT = 32_000;

const KEPT_ROLES = new Set(['user', 'assistant', 'system']);

/**
 * A message as the room should hold it, known by `key` (its createdAt and role) since the
 * stored ids are new: unique inside each fixture (checked).
 */
export interface ExpectedMessage {
  key: string;
  parentKey: string | null;
  role: string;
  /** The exact text, or a pattern where API.md leaves the wording of a placeholder open. */
  content: string | RegExp;
  createdAt: string;
  model: string | null;
}

export interface ExpectedRoom {
  failed: false;
  sourceId: string;
  title: string;
  createdAt: string;
  /** `update_time`, never before `createdAt` nor before the newest message. */
  updatedAt: string;
  /** Whether no time was given at all, so that the room is dated `now` (see ExpectOptions). */
  usedNow: boolean;
  /** In no particular order: compare by key. */
  messages: ExpectedMessage[];
  activeKey: string;
  /**
   * Every key the active message may have: `activeKey`, and the leaves reached through replies
   * (or, without an active message, the leaves) as new as the ones taken: API.md leaves ties open.
   */
  activeChoices: string[];
  /** The keys from the root down to the active message. */
  activePath: string[];
  /** Whether a message had to be cut at 32,000 characters. */
  cut: boolean;
}

export interface ExpectedFailure {
  failed: true;
  sourceId: string;
  title: string;
}

export const messageKey = (createdAt: string, role: string) => `${createdAt} ${role}`;

export interface ExpectOptions {
  /**
   * What a message is known by: its createdAt and role (the default; unique inside each
   * fixture, checked), or its `mapping` key (for generated conversations, where times tie).
   */
  keys?: 'time-role' | 'node';
  /** The time (ms) of a conversation that gives none at all: when it was imported. */
  now?: number;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Cut at `max` code units, one fewer when that would split a surrogate pair. */
function cut(text: string): string {
  if (text.length <= MAX_IMPORTED_CONTENT) return text;
  const last = text.charCodeAt(MAX_IMPORTED_CONTENT - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? MAX_IMPORTED_CONTENT - 1 : MAX_IMPORTED_CONTENT;
  return text.slice(0, end);
}

/* eslint-disable @typescript-eslint/no-explicit-any -- fixtures are untyped JSON */

/**
 * What a message's content becomes, by API.md's rules, for the kinds of content the fixtures
 * hold: text parts joined by a blank line; `code` fenced; a non-text part a bracketed
 * placeholder naming its kind. Null when nothing visible is left (the message is left out).
 * Attached files (metadata.attachments) may be named in brackets before the text: API.md
 * does not say, so the pattern allows it.
 */
function render(message: any): string | RegExp | null {
  const content = message.content;
  if (content === null || typeof content !== 'object') return null;
  if (content.content_type === 'code') {
    if (typeof content.text !== 'string' || content.text.trim() === '') return null;
    // A fence longer than any run of backticks inside (else the block would end there), the
    // same on both sides; a last line break may go with the closing fence.
    const text: string = content.text;
    const longestRun = Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
    const body = text.endsWith('\n') ? `${escape(text.slice(0, -1))}\\n?` : escape(text);
    return new RegExp(`^(\`{${Math.max(3, longestRun + 1)},})[\\w.+#-]*\\n${body}\\n\\1$`);
  }
  if (!['text', 'multimodal_text'].includes(content.content_type)) return null;
  if (!Array.isArray(content.parts)) return null;
  const parts = (content.parts as unknown[]).filter(
    (part) => typeof part !== 'string' || part.trim() !== '',
  );
  if (parts.length === 0) return null;
  const attachments = message.metadata?.attachments;
  const plain = parts.every((part) => typeof part === 'string');
  if (plain && !(Array.isArray(attachments) && attachments.length > 0)) {
    return cut(parts.join('\n\n'));
  }
  const pieces = parts.map((part: any) =>
    typeof part === 'string'
      ? escape(part)
      : // "image_asset_pointer" is an image: the placeholder names it
        `\\[${escape(String(part.content_type).replace(/_asset_pointer$/, ''))}[^\\]\\n]*\\]`,
  );
  return new RegExp(`^(\\[[^\\]\\n]+\\]\\n\\n)*${pieces.join('\\n\\n')}$`);
}

function seconds(value: unknown): number | null {
  return typeof value === 'number' ? Math.round(value * 1000) : null;
}

/**
 * The room one ChatGPT conversation should become, derived from its content by the rules of
 * API.md "Export and import": the visible messages of users, the assistant and the system,
 * each under its nearest kept ancestor (a parent missing from `mapping` makes a root); times
 * in milliseconds, a child at least 1 ms after its parent; `current_node` (or the nearest kept
 * node above it) active, followed down through the newest reply at each step, else the
 * newest leaf. A conversation
 * without `mapping`, or without a visible message, fails.
 */
export function expectedChatGptRoom(
  conversation: any,
  options: ExpectOptions = {},
): ExpectedRoom | ExpectedFailure {
  const sourceId: string = conversation.conversation_id ?? conversation.id;
  const title =
    typeof conversation.title === 'string' && conversation.title.trim() !== ''
      ? conversation.title.trim()
      : DEFAULT_IMPORT_TITLE;
  const mapping = conversation.mapping;
  if (mapping === null || typeof mapping !== 'object') return { failed: true, sourceId, title };

  const ids = Object.keys(mapping);
  const parentOf = (id: string): string | null => {
    const parent = mapping[id]?.parent;
    return typeof parent === 'string' && parent in mapping && parent !== id ? parent : null;
  };
  const kept = new Map<
    string,
    { role: string; content: string | RegExp; ownMs: number | null; model: string | null }
  >();
  let wasCut = false;
  for (const id of ids) {
    const message = mapping[id].message;
    if (message === null || typeof message !== 'object') continue;
    const role = message.author?.role;
    if (!KEPT_ROLES.has(role)) continue;
    if (message.metadata?.is_visually_hidden_from_conversation === true) continue;
    const content = render(message);
    if (content === null) continue;
    if (typeof content === 'string' && Array.isArray(message.content.parts)) {
      wasCut ||= content.length < (message.content.parts as string[]).join('\n\n').length;
    }
    const slug = message.metadata?.model_slug;
    kept.set(id, {
      role,
      content,
      ownMs: seconds(message.create_time),
      model: typeof slug === 'string' ? slug : null,
    });
  }
  if (kept.size === 0) return { failed: true, sourceId, title };
  const keptParent = (id: string): string | null => {
    let parent = parentOf(id);
    for (let steps = 0; parent !== null && !kept.has(parent); steps++) {
      if (steps > ids.length) throw new Error(`a loop of parents in ${sourceId}`);
      parent = parentOf(parent);
    }
    return parent;
  };
  const ownTimes = [...kept.values()].map((m) => m.ownMs).filter((ms) => ms !== null);
  const givenMs =
    seconds(conversation.create_time) ?? (ownTimes.length ? Math.min(...ownTimes) : null);
  const createdMs = givenMs ?? options.now;
  if (createdMs === undefined) throw new Error(`${sourceId} gives no time at all: pass \`now\``);
  const times = new Map<string, number>();
  const timeOf = (id: string): number => {
    const known = times.get(id);
    if (known !== undefined) return known;
    const parent = keptParent(id);
    const own = kept.get(id)!.ownMs;
    const ms =
      parent === null ? (own ?? createdMs) : Math.max(own ?? -Infinity, timeOf(parent) + 1);
    times.set(id, ms);
    return ms;
  };

  const keyOf = (id: string) =>
    options.keys === 'node'
      ? id
      : messageKey(new Date(timeOf(id)).toISOString(), kept.get(id)!.role);
  const messages: ExpectedMessage[] = [...kept.entries()].map(([id, m]) => {
    const parent = keptParent(id);
    return {
      key: keyOf(id),
      parentKey: parent === null ? null : keyOf(parent),
      role: m.role,
      content: m.content,
      createdAt: new Date(timeOf(id)).toISOString(),
      model: m.model,
    };
  });
  if (new Set(messages.map((m) => m.key)).size !== messages.length) {
    throw new Error(`two messages of ${sourceId} share a time and a role: pick another key`);
  }

  // The newest of these leaves, and those as new as it.
  const newest = (leaves: string[]) => {
    const ms = Math.max(...leaves.map(timeOf));
    const tied = leaves.filter((leaf) => timeOf(leaf) === ms);
    return { pick: tied[tied.length - 1], tied };
  };
  let active: string | null =
    typeof conversation.current_node === 'string' && conversation.current_node in mapping
      ? conversation.current_node
      : null;
  while (active !== null && !kept.has(active)) active = parentOf(active);
  // With replies, followed down through the newest reply at each step (docs/api.md), as a
  // switch goes down: the branch routes keep an active message at the end of its path. Without
  // one, the newest leaf. Replies as new as each other may each be taken (`tied`).
  const children = (id: string) => [...kept.keys()].filter((child) => keptParent(child) === id);
  const down = (id: string): string[] => {
    const replies = children(id);
    if (replies.length === 0) return [id];
    const ms = Math.max(...replies.map(timeOf));
    return replies.filter((reply) => timeOf(reply) === ms).flatMap(down);
  };
  const parents = new Set([...kept.keys()].map(keptParent));
  const { pick, tied } =
    active === null
      ? newest([...kept.keys()].filter((id) => !parents.has(id)))
      : { pick: down(active).at(-1)!, tied: down(active) };
  active = pick;
  const activePath: string[] = [];
  for (let id: string | null = active; id !== null; id = keptParent(id))
    activePath.unshift(keyOf(id));
  return {
    failed: false,
    sourceId,
    title,
    createdAt: new Date(createdMs).toISOString(),
    updatedAt: new Date(
      Math.max(
        seconds(conversation.update_time) ?? createdMs,
        createdMs,
        ...[...kept.keys()].map(timeOf),
      ),
    ).toISOString(),
    usedNow: givenMs === null,
    messages,
    activeKey: keyOf(active),
    activeChoices: tied.map(keyOf),
    activePath,
    cut: wasCut,
  };
}
