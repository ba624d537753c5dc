/**
 * Every SQL statement the floor server runs, one per route step. This is the reference SQL for
 * the app: the bench reports "SQL statements per request" for both servers, so the app should
 * need no more statements than these (and ideally the very same text).
 *
 * Each statement has a `name`: node-postgres then prepares it once per pooled connection and
 * afterwards only sends Bind/Execute, which spares PostgreSQL the parse and plan work.
 *
 * The schema is the app's with conversation trees (migration ConversationTrees, see
 * src/chat/tree.sql.ts): a message's parent_id, the room's active path flagged
 * (on_active_path, read over the partial index ix_messages_active_path), its sibling_count;
 * the room's version and active_message_id, and its message_count. The floor checks for it at
 * start-up (SCHEMA_PROBE). Reads without `branch=all` are of the active path, as the app's:
 * a room's messages, its lastMessage (the active message), a page (or, with a cursor off the
 * path, the path through the cursor). A Message carries parentId and siblingIds (the app's
 * sibling_count shortcut: no look-up for a message without siblings).
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
 *   GET  /api/chat-rooms/:id/messages    2   roomAndCursor, page*
 */

export interface Statement {
  readonly name: string;
  readonly text: string;
}

/** At most this many messages are embedded in `GET /api/chat-rooms/:id`. */
export const ROOM_MESSAGES_MAX = 1000;
/** With `include=messages`, each listed room carries at most this many of its newest messages. */
export const LIST_MESSAGES_PER_ROOM = 50;
/** A summary's lastMessage: at most this many UTF-16 code units of content, then `truncated`. */
export const PREVIEW_CHARS = 2000;

/**
 * The ids of the messages that share message `m`'s parent, itself included, oldest first
 * (text[]): sibling_count says when there is none but itself. As the app's siblingIdsOf().
 */
const siblingIds = (m: string) => `CASE WHEN ${m}.sibling_count = 1 THEN ARRAY[${m}.id::text]
    WHEN ${m}.parent_id IS NULL THEN ARRAY(SELECT s.id::text FROM messages s WHERE s.chat_room_id = ${m}.chat_room_id AND s.parent_id IS NULL ORDER BY s.created_at, s.id)
    ELSE ARRAY(SELECT s.id::text FROM messages s WHERE s.chat_room_id = ${m}.chat_room_id AND s.parent_id = ${m}.parent_id ORDER BY s.created_at, s.id) END`;

/** A Message's columns of message `m`. */
const messageColumns = (m: string) =>
  `${m}.id, ${m}.chat_room_id, ${m}.role, ${m}.content, ${m}.created_at, ${m}.status, ${m}.model, ${m}.generation_id, ${m}.parent_id, ${siblingIds(m)} AS sibling_ids`;
const MESSAGE_COLUMNS = messageColumns('m');
const ROOM_COLUMNS =
  'id, title, owner_id, created_at, updated_at, model, system_prompt, version, active_message_id';

/** The conversation-trees schema is there (run once at start-up). */
export const SCHEMA_PROBE = `
  SELECT EXISTS (
    SELECT 1 FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = 'messages' AND column_name = 'on_active_path'
  ) AS "conversationTrees"`;
export interface SchemaFeatures {
  conversationTrees: boolean;
}

/** The messages of room $1 just older (`<`) or newer (`>`) than message $2, at most $3. */
const page = (scope: string, direction: '<' | '>', order: string) => `
      SELECT ${MESSAGE_COLUMNS} FROM messages m
      WHERE m.chat_room_id = $1 ${scope}
        AND (m.created_at, m.id) ${direction} (SELECT c.created_at, c.id FROM messages c WHERE c.id = $2 AND c.chat_room_id = $1)
      ORDER BY ${order}
      LIMIT $3`;
const NEWEST_FIRST = 'm.created_at DESC, m.id DESC';
const OLDEST_FIRST = 'm.created_at ASC, m.id ASC';
const ON_PATH = 'AND m.on_active_path';
/** Children most recently on the active path first (then the newest), as the app's. */
const CHOSEN_FIRST = 'c.chosen_version DESC, c.created_at DESC, c.id DESC';

export function buildSql() {
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
     * message count and its last message (the room's active message, its content cut a
     * character past the preview) — all in one statement.
     *
     * The `total` subquery is the driving row, so an offset past the end still returns one row
     * (with NULL room columns) carrying the total. lastMessage is the row active_message_id
     * names (a primary-key look-up per room of the page); messageCount the room's counter.
     * $1 owner id, $2 limit, $3 offset.
     */
    listRooms: {
      name: 'list_rooms',
      text: `
      SELECT t.total, p.id, p.title, p.owner_id, p.created_at, p.updated_at, p.model,
             p.system_prompt, p.version, p.active_message_id, p.message_count,
             lm.id AS lm_id, lm.role AS lm_role, lm.content AS lm_content,
             lm.created_at AS lm_created_at, lm.status AS lm_status, lm.model AS lm_model,
             lm.generation_id AS lm_generation_id, lm.parent_id AS lm_parent_id,
             lm.sibling_ids AS lm_sibling_ids
      FROM (SELECT count(*)::int AS total FROM chat_rooms WHERE owner_id = $1) AS t
      LEFT JOIN LATERAL (
        SELECT r.id, r.title, r.owner_id, r.created_at, r.updated_at, r.model, r.system_prompt,
               r.version, r.active_message_id, r.message_count
        FROM chat_rooms r
        WHERE r.owner_id = $1
        ORDER BY r.updated_at DESC, r.id DESC
        LIMIT $2 OFFSET $3
      ) AS p ON true
      LEFT JOIN LATERAL (
        SELECT m.id, m.role, left(m.content, ${PREVIEW_CHARS + 1}) AS content, m.created_at,
               m.status, m.model, m.generation_id, m.parent_id, ${siblingIds('m')} AS sibling_ids
        FROM messages m
        WHERE m.id = p.active_message_id
      ) AS lm ON true
      ORDER BY p.updated_at DESC, p.id DESC`,
    },

    /**
     * `include=messages`: the newest LIST_MESSAGES_PER_ROOM messages of every room's active path
     * of the page in ONE statement (a LATERAL top-N per room over ix_messages_active_path),
     * newest first; the server groups them by room and reverses each group. $1 uuid[] of the
     * page's room ids.
     */
    newestMessagesOfRooms: {
      name: 'newest_messages_of_rooms',
      text: `
      SELECT ${MESSAGE_COLUMNS}
      FROM unnest($1::uuid[]) AS r (id)
      CROSS JOIN LATERAL (
        SELECT * FROM messages
        WHERE chat_room_id = r.id AND on_active_path
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
     * The newest ROOM_MESSAGES_MAX + 1 messages of a room's active path, newest first: the extra
     * row only tells whether `hasMoreMessages`; the server drops it and reverses the rest.
     * $1 room id.
     */
    roomMessages: {
      name: 'room_messages',
      text: `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.chat_room_id = $1 ${ON_PATH}
           ORDER BY ${NEWEST_FIRST} LIMIT ${ROOM_MESSAGES_MAX + 1}`,
    },

    /**
     * Post a message after the room's active message: ONE statement, hence one implicit
     * transaction, as the app's (SQL.post in src/chat/messages.repository.ts). The room's row
     * lock, taken only if the caller owns it (→ 404 when no row comes back), orders concurrent
     * posts and gives the latest active message: the new message's parent. The room takes the
     * new message as its active one and bumps updated_at, message_count and version; the
     * message takes that very updated_at as its created_at and that version as its
     * chosen_version. greatest() keeps updated_at and the message order monotonic even if the
     * clock steps back. The active message is a leaf, so the new one has no sibling.
     * $1 room id, $2 owner id, $3 role, $4 content.
     */
    insertMessage: {
      name: 'insert_message',
      text: `
      WITH locked AS MATERIALIZED (
        SELECT r.id, r.active_message_id FROM chat_rooms r
        WHERE r.id = $1 AND r.owner_id = $2
        FOR UPDATE
      ),
      ids AS MATERIALIZED (SELECT gen_random_uuid() AS id),
      room AS (
        UPDATE chat_rooms r
        SET updated_at = greatest(date_trunc('milliseconds', clock_timestamp()), r.updated_at + interval '1 millisecond'),
            message_count = r.message_count + 1, version = r.version + 1, active_message_id = ids.id
        FROM locked, ids WHERE r.id = locked.id
        RETURNING r.id, r.updated_at, r.version
      )
      INSERT INTO messages AS m (id, chat_room_id, owner_id, role, content, created_at, parent_id,
                                 on_active_path, chosen_version, sibling_count)
      SELECT ids.id, room.id, $2, $3, $4, room.updated_at, locked.active_message_id, true,
             room.version, 1
      FROM room, ids, locked
      RETURNING ${MESSAGE_COLUMNS}`,
    },

    /**
     * A message page's first step: the room of the caller (no row → 404), and the cursor if it
     * is a message of this room (else → 400), with whether it is on the active path.
     * $1 room id, $2 owner id, $3 cursor id or NULL.
     */
    roomAndCursor: {
      name: 'room_and_cursor',
      text: `
      SELECT r.id, c.id AS cursor_id, c.on_active_path AS cursor_on_path
      FROM chat_rooms r LEFT JOIN messages c ON c.id = $3 AND c.chat_room_id = r.id
      WHERE r.id = $1 AND r.owner_id = $2`,
    },

    /**
     * Message pages, once roomAndCursor has checked the room and the cursor. The newest of the
     * active path, newest first (…All: of every branch, `branch=all`). $1 room id, $2 limit + 1.
     */
    pageNewest: {
      name: 'page_newest',
      text: `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.chat_room_id = $1 ${ON_PATH}
           ORDER BY ${NEWEST_FIRST} LIMIT $2`,
    },
    pageNewestAll: {
      name: 'page_newest_all',
      text: `SELECT ${MESSAGE_COLUMNS} FROM messages m WHERE m.chat_room_id = $1
           ORDER BY ${NEWEST_FIRST} LIMIT $2`,
    },

    /**
     * Messages just older than a cursor on the active path, newest first: a row comparison on
     * (created_at, id) walks ix_messages_active_path backwards from the cursor (…All:
     * ix_messages_room_created). $1 room id, $2 cursor id, $3 limit + 1.
     */
    pageBefore: { name: 'page_before', text: page(ON_PATH, '<', NEWEST_FIRST) },
    pageBeforeAll: { name: 'page_before_all', text: page('', '<', NEWEST_FIRST) },

    /** Messages just newer than a cursor, oldest first. $1 room id, $2 cursor id, $3 limit + 1. */
    pageAfter: { name: 'page_after', text: page(ON_PATH, '>', OLDEST_FIRST) },
    pageAfterAll: { name: 'page_after_all', text: page('', '>', OLDEST_FIRST) },

    /**
     * A cursor off the active path pages along its own path: its ancestors, newest first…
     * $1 room id, $2 cursor id, $3 limit + 1.
     */
    pageAncestors: {
      name: 'page_ancestors',
      text: `
      WITH RECURSIVE up AS (
        SELECT m.*, 1 AS n FROM messages c
        JOIN messages m ON m.chat_room_id = c.chat_room_id AND m.id = c.parent_id
        WHERE c.id = $2 AND c.chat_room_id = $1
        UNION ALL
        SELECT m.*, up.n + 1 FROM up
        JOIN messages m ON m.chat_room_id = up.chat_room_id AND m.id = up.parent_id
        WHERE up.n < $3
      )
      SELECT ${MESSAGE_COLUMNS} FROM up m ORDER BY ${NEWEST_FIRST}`,
    },

    /**
     * …and the branch below it that was active most recently, oldest first: at each step the
     * child most recently on the active path. $1 room id, $2 cursor id, $3 limit + 1.
     */
    pageDescendants: {
      name: 'page_descendants',
      text: `
      WITH RECURSIVE d(id, n) AS (
        SELECT c.id, 1 FROM (
          SELECT c.id FROM messages c WHERE c.chat_room_id = $1 AND c.parent_id = $2
          ORDER BY ${CHOSEN_FIRST} LIMIT 1
        ) c
        UNION ALL
        SELECT c.id, d.n + 1 FROM d CROSS JOIN LATERAL (
          SELECT c.id FROM messages c WHERE c.chat_room_id = $1 AND c.parent_id = d.id
          ORDER BY ${CHOSEN_FIRST} LIMIT 1
        ) c
        WHERE d.n < $3
      )
      SELECT ${MESSAGE_COLUMNS} FROM d JOIN messages m ON m.id = d.id ORDER BY ${OLDEST_FIRST}`,
    },
  } as const satisfies Record<string, Statement>;
}

export type Sql = ReturnType<typeof buildSql>;
