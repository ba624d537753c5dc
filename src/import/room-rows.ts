import { randomUUID } from 'node:crypto';
import type { MappedConversation } from './formats';
import type { RoomRows } from './imports.repository';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What identifies a conversation's source across imports, per user (chat_rooms.import_source). */
export function importSource(format: 'chatgpt' | 'room', sourceId: string): string {
  return `${format}:${sourceId}`;
}

/**
 * The rows of a new room for a mapped conversation, with new ids: the tree as the branches
 * routes keep it — the path from a root to the active message flagged `on_active_path` and
 * chosen at version 1 (the room's version), every message's `sibling_count` (roots are
 * siblings of each other). Messages keep the mapper's order: parents before children.
 */
export function roomRows(
  conversation: MappedConversation,
  owner: { ownerId: string; format: 'chatgpt' | 'room'; model: string | null },
): RoomRows {
  const messages = conversation.messages;
  const idOf = new Map<string, string>();
  for (const message of messages) idOf.set(message.sourceId, randomUUID());
  const parentOf = new Map(messages.map((m) => [m.sourceId, m.parentSourceId]));

  // The active message is a leaf: below a named one that has children, the newest child is
  // followed down (what the branches routes do when a branch is chosen above its end).
  const newestChild = new Map<string, string>();
  for (const m of messages)
    if (m.parentSourceId !== null) newestChild.set(m.parentSourceId, m.sourceId);
  let active = conversation.activeSourceId;
  for (let next = active && newestChild.get(active); next; next = newestChild.get(next))
    active = next;

  const onPath = new Set<string>();
  for (
    let at: string | null = active;
    at !== null && !onPath.has(at);
    at = parentOf.get(at) ?? null
  ) {
    onPath.add(at);
  }
  const siblings = new Map<string | null, number>();
  for (const m of messages)
    siblings.set(m.parentSourceId, (siblings.get(m.parentSourceId) ?? 0) + 1);

  const lookup = (sourceId: string): string => {
    const id = idOf.get(sourceId);
    if (id === undefined) throw new Error(`message ${sourceId} has no row`);
    return id;
  };
  return {
    roomId: randomUUID(),
    ownerId: owner.ownerId,
    title: conversation.title,
    model: owner.model,
    systemPrompt: conversation.systemPrompt,
    createdAt: conversation.createdAt,
    updatedAt: conversation.updatedAt,
    activeMessageId: active === null ? null : lookup(active),
    importSource: importSource(owner.format, conversation.sourceId),
    sameId:
      owner.format === 'room' && UUID.test(conversation.sourceId) ? conversation.sourceId : null,
    ids: messages.map((m) => lookup(m.sourceId)),
    parentIds: messages.map((m) => (m.parentSourceId === null ? null : lookup(m.parentSourceId))),
    roles: messages.map((m) => m.role),
    contents: messages.map((m) => m.content),
    statuses: messages.map((m) => m.status),
    models: messages.map((m) => m.model),
    createdAts: messages.map((m) => m.createdAt),
    onActivePath: messages.map((m) => onPath.has(m.sourceId)),
    chosenVersions: messages.map((m) => (onPath.has(m.sourceId) ? 1 : 0)),
    siblingCounts: messages.map((m) => siblings.get(m.parentSourceId) ?? 1),
  };
}
