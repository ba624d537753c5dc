import type { Client } from 'pg';
import type TestAgent from 'supertest/lib/agent';
import type { RegisteredUser } from './users';

export async function createRoom(http: TestAgent, user: RegisteredUser, title?: string) {
  const res = await http
    .post('/api/chat-rooms')
    .set(user.auth)
    .send(title === undefined ? {} : { title })
    .expect(201);
  return res.body as { id: string; title: string; updatedAt: string; createdAt: string };
}

export async function postMessage(
  http: TestAgent,
  user: RegisteredUser,
  roomId: string,
  content: string,
  role?: string,
) {
  const res = await http
    .post(`/api/chat-rooms/${roomId}/messages`)
    .set(user.auth)
    .send(role ? { content, role } : { content })
    .expect(201);
  return res.body as {
    id: string;
    chatRoomId: string;
    role: string;
    content: string;
    createdAt: string;
  };
}

/**
 * Bulk-seeds rooms and messages straight in SQL (fast, for volume tests): `messages` per room,
 * one millisecond apart starting at `start`, keeping chat_rooms.message_count and updated_at
 * as the API would; every message's text is `content` when given. Returns the room ids, newest
 * room first.
 */
export async function seedRooms(
  db: Client,
  ownerId: string,
  rooms: number,
  messages: number,
  {
    start = new Date('2026-01-01T00:00:00.000Z'),
    sameTimestamp = false,
    content,
  }: { start?: Date; sameTimestamp?: boolean; content?: string } = {},
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO chat_rooms (title, owner_id, created_at, updated_at)
     SELECT 'Seeded ' || i, $1, $2::timestamptz, $2::timestamptz + i * interval '1 second'
     FROM generate_series(1, $3::int) AS i RETURNING id`,
    [ownerId, start, rooms],
  );
  const ids = rows.map((r) => r.id);
  if (messages > 0) {
    await db.query(
      `INSERT INTO messages (chat_room_id, role, content, created_at)
       SELECT room_id, CASE WHEN n % 2 = 0 THEN 'assistant' ELSE 'user' END,
              coalesce($5::text, 'message ' || n),
              $2::timestamptz + CASE WHEN $4 THEN interval '0' ELSE n * interval '1 millisecond' END
       FROM unnest($1::uuid[]) AS room_id, generate_series(1, $3::int) AS n`,
      [ids, start, messages, sameTimestamp, content ?? null],
    );
    await db.query(
      `UPDATE chat_rooms r SET message_count = $2::int,
              updated_at = greatest(r.updated_at, (SELECT max(created_at) FROM messages m WHERE m.chat_room_id = r.id))
       WHERE r.id = ANY($1::uuid[])`,
      [ids, messages],
    );
    await linkAsLines(db, ids);
  }
  return ids.reverse();
}

/**
 * Makes the messages of these rooms, inserted without parents, one line each in conversation
 * order, active at the newest: what the API would have made of them (and what the migration
 * ConversationTrees makes of v2 rooms).
 */
export async function linkAsLines(db: Client, roomIds: string[]): Promise<void> {
  await db.query(
    `UPDATE messages m SET parent_id = line.previous, on_active_path = true
     FROM (
       SELECT id, lag(id) OVER (PARTITION BY chat_room_id ORDER BY created_at, id) AS previous
       FROM messages WHERE chat_room_id = ANY($1::uuid[])
     ) line
     WHERE m.id = line.id`,
    [roomIds],
  );
  await db.query(
    `UPDATE chat_rooms r SET active_message_id = (
       SELECT m.id FROM messages m WHERE m.chat_room_id = r.id ORDER BY m.created_at DESC, m.id DESC LIMIT 1)
     WHERE r.id = ANY($1::uuid[])`,
    [roomIds],
  );
}

/** A Message of v3: its place in the room's tree included. */
export interface TreeMessage {
  id: string;
  chatRoomId: string;
  role: string;
  content: string;
  createdAt: string;
  status: string;
  model: string | null;
  generationId: string | null;
  parentId: string | null;
  siblingIds: string[];
}

/** A ChatRoom of v3 (GET /api/chat-rooms/:roomId): `messages` is its active path. */
export interface TreeRoom {
  id: string;
  title: string;
  ownerId: string;
  createdAt: string;
  updatedAt: string;
  model: string | null;
  systemPrompt: string | null;
  version: number;
  activeMessageId: string | null;
  messages: TreeMessage[];
  hasMoreMessages: boolean;
}

/** Posts a message with v3's body (`parentId` absent, null or a message id). */
export async function postInTree(
  http: TestAgent,
  user: RegisteredUser,
  roomId: string,
  body: { content: string; role?: string; parentId?: string | null },
): Promise<TreeMessage> {
  const res = await http
    .post(`/api/chat-rooms/${roomId}/messages`)
    .set(user.auth)
    .send(body)
    .expect(201);
  return res.body as TreeMessage;
}

export async function getRoom(
  http: TestAgent,
  user: RegisteredUser,
  roomId: string,
): Promise<TreeRoom> {
  const res = await http.get(`/api/chat-rooms/${roomId}`).set(user.auth).expect(200);
  return res.body as TreeRoom;
}

/** PUT …/active-message; answers the room with its new active path. */
export async function switchBranch(
  http: TestAgent,
  user: RegisteredUser,
  roomId: string,
  messageId: string,
): Promise<TreeRoom> {
  const res = await http
    .put(`/api/chat-rooms/${roomId}/active-message`)
    .set(user.auth)
    .send({ messageId })
    .expect(200);
  return res.body as TreeRoom;
}

/** Every message of the room, all branches, read through `branch=all` pages (newest back). */
export async function allMessages(
  http: TestAgent,
  user: RegisteredUser,
  roomId: string,
  limit = 200,
): Promise<TreeMessage[]> {
  const seen: TreeMessage[] = [];
  let before = '';
  for (;;) {
    const res = await http
      .get(`/api/chat-rooms/${roomId}/messages?branch=all&limit=${limit}${before}`)
      .set(user.auth)
      .expect(200);
    const items = res.body.items as TreeMessage[];
    seen.unshift(...items);
    if (!res.body.hasMore) return seen;
    if (items.length === 0) throw new Error('hasMore with an empty page');
    before = `&before=${items[0].id}`;
  }
}
