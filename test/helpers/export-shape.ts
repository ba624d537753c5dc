import type { ExportedRoomDto } from '../../src/export/dto/export-document.dto';

export type ExportRoom = ExportedRoomDto;

/**
 * An export room as it is whatever its ids: its fields, and every message named by the path of
 * messages down to it (role, time, content of each), sorted; the active message by its path.
 * Two exports of the same trees have equal shapes, whichever account they come from.
 */
export function exportShape(room: ExportRoom) {
  const byId = new Map(room.messages.map((m) => [m.id, m]));
  const pathOf = (id: string | null): string[] => {
    const path: string[] = [];
    for (let m = id === null ? undefined : byId.get(id); m;) {
      path.unshift(`${m.role} @${m.createdAt}: ${m.content}`);
      m = m.parentId === null ? undefined : byId.get(m.parentId);
      if (path.length > room.messages.length) throw new Error('a loop of parents');
    }
    return path;
  };
  return {
    title: room.title,
    createdAt: room.createdAt,
    updatedAt: room.updatedAt,
    model: room.model,
    systemPrompt: room.systemPrompt,
    messages: room.messages
      .map((m) => ({
        path: pathOf(m.id),
        role: m.role,
        content: m.content,
        status: m.status,
        model: m.model,
        createdAt: m.createdAt,
      }))
      .sort((a, b) => (JSON.stringify(a.path) < JSON.stringify(b.path) ? -1 : 1)),
    activePath: pathOf(room.activeMessageId),
  };
}
