/**
 * Every SQL statement the floor server runs, one per route step. This is the reference SQL for
 * the app: the bench reports "SQL statements per request" for both servers, so the app should
 * need no more statements than these (and ideally the very same text).
 *
 * Each statement has a `name`: node-postgres then prepares it once per pooled connection and
 * afterwards only sends Bind/Execute, which spares PostgreSQL the parse and plan work.
 *
 * Two schema variants, detected by the floor at start-up (SCHEMA_PROBE):
 *  - chat_rooms.message_count exists (the app's migration CreateChat): messageCount is read
 *    from it, and posting a message increments it in the same statement — as the app does;
 *  - it does not: messageCount is counted per listed room over ix_messages_room_created.
 *
 * Statements per request. Tokens are verified in node. A deleted user's token must be refused
 * (401) everywhere, but only `/api/users/me` looks the user up (authUser): the chat statements
 * prove the caller exists (rooms are found with their owner; a new room's foreign key refuses a
 * missing user), and authUser runs only when they find nothing (401 rather than 404). Unlike the
 * app's, they do not prove the token's session (`sid`) live: that proof is part of what the
 * bench measures the app paying for.
 *   POST /api/auth/login                 2   userByEmail (+ argon2id verify in node), openSession
 *   POST /api/auth/refresh               4   BEGIN, lockSession, rotateSession, COMMIT
 *   GET  /api/users/me                   1   authUser (it returns the public user row)
 *   POST /api/chat-rooms                 1   insertRoom
 *   GET  /api/chat-rooms                 1   listRooms
 *   GET  /api/chat-rooms?include=messages 2  listRooms, newestMessagesOfRooms
 *   GET  /api/chat-rooms/:id             2   roomForOwner, roomMessages
 *   POST /api/chat-rooms/:id/messages    1   insertMessage
 *   GET  /api/chat-rooms/:id/messages    2   roomForOwner, page*  (+ cursorInRoom
 *                                            only when a cursor page comes back empty)
 */

export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** At most this many messages are embedded in `GET /api/chat-rooms/:id`. */
export const ROOM_MESSAGES_MAX = 1000;
/** With `include=messages`, each listed room carries at most this many of its newest messages. */
export const LIST_MESSAGES_PER_ROOM = 50;

const MESSAGE_COLUMNS = 'id, chat_room_id, role, content, created_at, status, model, generation_id';
const ROOM_COLUMNS = 'id, title, owner_id, created_at, updated_at, model, system_prompt';

export interface SchemaFeatures {
  /** chat_rooms.message_count exists and is kept by the statement that posts a message. */
  messageCountColumn: boolean;
}

/** Which variant the database has (run once at start-up). */
export const SCHEMA_PROBE = `
  SELECT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'chat_rooms' AND column_name = 'message_count'
  ) AS "messageCountColumn"`;

export function buildSql(schema: SchemaFeatures) {
  const counter = schema.messageCountColumn;
  return {
    health: { name: 'health', text: 'SELECT 1' },

    /**
     * The user behind a token still exists (a deleted user's tokens stop working): all of
     * `GET /api/users/me`, and the 401-or-404 question when a chat statement finds nothing.
     */
    authUser: {
      name: 'auth_user',
      text: 'SELECT id, email, display_name, created_at FROM users WHERE id = $1',
    },

    /** Login: the argon2id verification happens in node, then openSession. */
    userByEmail: {
      name: 'user_by_email',
      text: 'SELECT id, email, display_name, created_at, password_hash FROM users WHERE email = $1',
    },

    /** Register: a duplicate email returns no row (→ 409) instead of raising a unique violation. */
    insertUser: {
      name: 'insert_user',
      text: `INSERT INTO users (email, password_hash, display_name) VALUES ($1, $2, $3)
           ON CONFLICT (email) DO NOTHING
           RETURNING id, email, display_name, created_at`,
    },

    /**
     * Register and login open a session, as the app's do: the refresh token's secret is kept only
     * as its SHA-256. $1 session id, $2 user id, $3 hash, $4 now, $5 idle expiry, $6 absolute
     * expiry, $7 access token expiry, $8 user agent.
     */
    openSession: {
      name: 'open_session',
      text: `INSERT INTO sessions (id, user_id, token_hash, created_at, last_used_at, idle_expires_at,
                                 expires_at, access_expires_at, user_agent)
           VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)`,
    },

    /**
     * Refresh, in a transaction: the session's row lock orders concurrent refreshes of one
     * session; its user comes along for the answer. $1 session id.
     */
    lockSession: {
      name: 'lock_session',
      text: `SELECT s.user_id, s.generation, s.token_hash, s.idle_expires_at, s.expires_at,
                  s.revoked_at, u.email, u.display_name, u.created_at
           FROM sessions s JOIN users u ON u.id = s.user_id
           WHERE s.id = $1 FOR UPDATE OF s`,
    },

    /**
     * Rotation: the presented token becomes the previous one, the new one's hash the current.
     * $1 session id, $2 new hash, $3 now, $4 idle expiry, $5 access token expiry.
     */
    rotateSession: {
      name: 'rotate_session',
      text: `UPDATE sessions SET generation = generation + 1, previous_token_hash = token_hash,
             token_hash = $2, rotated_at = $3, last_used_at = $3, idle_expires_at = $4,
             access_expires_at = greatest(access_expires_at, $5)
           WHERE id = $1`,
    },

    insertRoom: {
      name: 'insert_room',
      text: `INSERT INTO chat_rooms (owner_id, title) VALUES ($1, $2)
           RETURNING ${ROOM_COLUMNS}`,
    },

    /**
     * One page of the caller's rooms, most recently active first, with the total, each room's
     * message count and its newest message — all in one statement.
     *
     * The `total` subquery is the driving row, so an offset past the end still returns one row
     * (with NULL room columns) carrying the total. lastMessage is a LATERAL one-row backward scan
     * of ix_messages_room_created per room of the page; messageCount is the room's counter column
     * or, without one, an index-only count per room of the page (never per room of the user).
     * $1 owner id, $2 limit, $3 offset.
     */
    listRooms: {
      name: counter ? 'list_rooms' : 'list_rooms_counting',
      text: `
      SELECT t.total, p.id, p.title, p.owner_id, p.created_at, p.updated_at, p.model,
             p.system_prompt, p.message_count,
             lm.id AS lm_id, lm.role AS lm_role, lm.content AS lm_content,
             lm.created_at AS lm_created_at, lm.status AS lm_status, lm.model AS lm_model,
             lm.generation_id AS lm_generation_id
      FROM (SELECT count(*)::int AS total FROM chat_rooms WHERE owner_id = $1) AS t
      LEFT JOIN LATERAL (
        SELECT r.id, r.title, r.owner_id, r.created_at, r.updated_at, r.model, r.system_prompt,
               ${counter ? 'r.message_count' : '(SELECT count(*)::int FROM messages m WHERE m.chat_room_id = r.id)'} AS message_count
        FROM chat_rooms r
        WHERE r.owner_id = $1
        ORDER BY r.updated_at DESC, r.id DESC
        LIMIT $2 OFFSET $3
      ) AS p ON true
      LEFT JOIN LATERAL (
        SELECT m.id, m.role, m.content, m.created_at, m.status, m.model, m.generation_id
        FROM messages m
        WHERE m.chat_room_id = p.id
        ORDER BY m.created_at DESC, m.id DESC
        LIMIT 1
      ) AS lm ON true
      ORDER BY p.updated_at DESC, p.id DESC`,
    },

    /**
     * `include=messages`: the newest LIST_MESSAGES_PER_ROOM messages of every room of the page in
     * ONE statement (a LATERAL top-N per room over ix_messages_room_created), newest first; the
     * server groups them by room and reverses each group. $1 uuid[] of the page's room ids.
     */
    newestMessagesOfRooms: {
      name: 'newest_messages_of_rooms',
      text: `
      SELECT m.id, m.chat_room_id, m.role, m.content, m.created_at, m.status, m.model,
             m.generation_id
      FROM unnest($1::uuid[]) AS r (id)
      CROSS JOIN LATERAL (
        SELECT ${MESSAGE_COLUMNS}
        FROM messages
        WHERE chat_room_id = r.id
        ORDER BY created_at DESC, id DESC
        LIMIT ${LIST_MESSAGES_PER_ROOM}
      ) AS m`,
    },

    /** A room of the caller, or no row (→ 404: absent and someone else's look the same). */
    roomForOwner: {
      name: 'room_for_owner',
      text: `SELECT ${ROOM_COLUMNS} FROM chat_rooms WHERE id = $1 AND owner_id = $2`,
    },

    /**
     * The newest ROOM_MESSAGES_MAX + 1 messages of a room, newest first: the extra row only tells
     * whether `hasMoreMessages`; the server drops it and reverses the rest. $1 room id.
     */
    roomMessages: {
      name: 'room_messages',
      text: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_room_id = $1
           ORDER BY created_at DESC, id DESC LIMIT ${ROOM_MESSAGES_MAX + 1}`,
    },

    /**
     * Post a message: ONE statement, hence one implicit transaction. The CTE bumps the room's
     * updated_at (and message_count) only if the caller owns it (→ 404 when no row comes back),
     * and the message takes that very timestamp as its created_at. The room's row lock orders
     * concurrent posts; greatest() keeps updated_at and the message order monotonic even if the
     * clock steps back. $1 room id, $2 owner id, $3 role, $4 content.
     */
    insertMessage: {
      name: counter ? 'insert_message' : 'insert_message_no_counter',
      text: `
      WITH room AS (
        UPDATE chat_rooms
        SET updated_at = greatest(date_trunc('milliseconds', clock_timestamp()), updated_at + interval '1 millisecond')${counter ? ',\n            message_count = message_count + 1' : ''}
        WHERE id = $1 AND owner_id = $2
        RETURNING id, updated_at
      )
      INSERT INTO messages (chat_room_id, owner_id, role, content, created_at)
      SELECT id, $2, $3, $4, updated_at FROM room
      RETURNING ${MESSAGE_COLUMNS}`,
    },

    /** Message pages: the room has already been checked (roomForOwner). $1 room id, $2 limit + 1. */
    pageNewest: {
      name: 'page_newest',
      text: `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE chat_room_id = $1
           ORDER BY created_at DESC, id DESC LIMIT $2`,
    },

    /**
     * Messages just older than the cursor, newest first. The cursor's position is looked up in SQL
     * (and must be a message of this room); a row comparison on (created_at, id) walks
     * ix_messages_room_created backwards from there. $1 room id, $2 cursor id, $3 limit + 1.
     */
    pageBefore: {
      name: 'page_before',
      text: `
      SELECT ${MESSAGE_COLUMNS} FROM messages
      WHERE chat_room_id = $1
        AND (created_at, id) < (SELECT created_at, id FROM messages WHERE id = $2 AND chat_room_id = $1)
      ORDER BY created_at DESC, id DESC
      LIMIT $3`,
    },

    /** Messages just newer than the cursor, oldest first. $1 room id, $2 cursor id, $3 limit + 1. */
    pageAfter: {
      name: 'page_after',
      text: `
      SELECT ${MESSAGE_COLUMNS} FROM messages
      WHERE chat_room_id = $1
        AND (created_at, id) > (SELECT created_at, id FROM messages WHERE id = $2 AND chat_room_id = $1)
      ORDER BY created_at ASC, id ASC
      LIMIT $3`,
    },

    /**
     * Only when a cursor page comes back empty: was the cursor a message of this room at all
     * (empty page) or not (→ 400)? Keeps the common path at one statement per page.
     */
    cursorInRoom: {
      name: 'cursor_in_room',
      text: 'SELECT 1 FROM messages WHERE id = $1 AND chat_room_id = $2',
    },
  } as const satisfies Record<string, Statement>;
}

export type Sql = ReturnType<typeof buildSql>;
