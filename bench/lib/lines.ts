/**
 * Rooms made in bulk SQL, for the benchmarks that make their data without the API (probes,
 * history): each room's messages one line, as the API makes it when nobody branches. In
 * (created_at, id) order each message's parent is the one before it (the first has none),
 * every message is on the active path with no sibling (sibling_count 1, chosen_version 0), and
 * the room's active_message_id is its newest message. Ids are drawn first, so rooms, messages,
 * parents and active messages go in with ONE statement (the foreign keys are checked at its end);
 * contents are made only as the messages are written.
 */

/**
 * The statement: $1 rooms of owner $2 (uuid), $3 messages each (role `user`), the room's
 * message_count kept. `title` is SQL of `i` (the room's number, from 1), `content` and
 * `createdAt` SQL of `j` (the message's number, from 1) and `i`. Answers the rooms' ids (`id`),
 * in `i` order.
 */
export function roomsOfLines(sql: { title: string; content: string; createdAt: string }): string {
  return `
    WITH planned AS MATERIALIZED (
      SELECT gen_random_uuid() AS id, i FROM generate_series(1, $1::int) i
    ), drawn AS MATERIALIZED (
      SELECT planned.id AS room, gen_random_uuid() AS id, i, j, ${sql.createdAt} AS created_at
      FROM planned, generate_series(1, $3::int) j
    ), line AS MATERIALIZED (
      SELECT d.*, lag(d.id) OVER (PARTITION BY d.room ORDER BY d.created_at, d.id) AS parent,
             row_number() OVER (PARTITION BY d.room ORDER BY d.created_at DESC, d.id DESC) = 1 AS newest
      FROM drawn d
    ), rooms AS (
      INSERT INTO chat_rooms (id, title, owner_id, message_count, active_message_id)
      SELECT id, ${sql.title}, $2::uuid, $3::int, active
      FROM (SELECT p.id, p.i, l.id AS active FROM planned p LEFT JOIN line l ON l.room = p.id AND l.newest) r
    ), written AS (
      INSERT INTO messages (id, chat_room_id, owner_id, role, content, created_at, parent_id,
                            on_active_path, chosen_version, sibling_count)
      SELECT id, room, $2::uuid, 'user', ${sql.content}, created_at, parent, true, 0, 1 FROM line
    )
    SELECT id FROM planned ORDER BY i`;
}
