/**
 * SQL fragments of a room's message tree, shared by the statements that change it (chat and
 * the assistant's start). What they keep (see Message.onActivePath, chosenVersion,
 * siblingCount): the active path's messages are flagged, so reading it is an index range scan;
 * among siblings, the highest chosen_version was on the active path most recently; a message
 * knows how many siblings it has. Every statement that changes the tree locks the room row and
 * bumps its version, so "the room's version in this statement's snapshot is the locked one"
 * means the snapshot shows the tree as it is (see FRESH_ROOM).
 */

/** Children most recently on the active path first (then the newest). */
const CHOSEN_FIRST = 'c.chosen_version DESC, c.created_at DESC, c.id DESC';

/** `If-Match`: `versions` is the int[] of the header's tags, NULL without one (or with `*`). */
export const versionMatches = (version: string, versions: string) =>
  `(${versions}::int[] IS NULL OR ${version} = ANY(${versions}::int[]))`;

/** The placeholders of a room write: the room, its caller, If-Match's versions. */
export interface RoomWritePlaceholders {
  readonly roomId: string;
  readonly ownerId: string;
  readonly sessionId: string;
  readonly ifMatch: string;
}

/**
 * `locked`: the room, owned, the session live, the If-Match met, row-locked (so its latest
 * version and active message). `gate` goes into its WHERE (an Idempotency-Key's, if any).
 * Only the named placeholders are read: a statement's `p` hands out a new one for any name.
 */
export function lockRoom(p: RoomWritePlaceholders, gate = ''): string {
  return `
    locked AS MATERIALIZED (
      SELECT r.id, r.version, r.active_message_id FROM chat_rooms r
      WHERE r.id = ${p.roomId} AND r.owner_id = ${p.ownerId}
        AND EXISTS (SELECT FROM live_session(${p.sessionId}, ${p.ownerId}))
        AND ${versionMatches('r.version', p.ifMatch)} ${gate}
      FOR UPDATE
    )`;
}

/**
 * lockRoom()'s `locked`, and `fresh`: the same row when the statement's snapshot holds that
 * very version. When another change committed while this statement waited for the lock,
 * `fresh` is empty, the statement changes nothing, and the caller runs it again (see
 * room-versions.ts).
 */
export function lockedRoom(p: RoomWritePlaceholders, gate = ''): string {
  return `${lockRoom(p, gate)},
    fresh AS MATERIALIZED (
      SELECT l.id, l.version, l.active_message_id
      FROM locked l JOIN chat_rooms s ON s.id = l.id AND s.version = l.version
    )`;
}

/**
 * The most recently active child of `parent` in `room` (NULL `parent`: the most recently
 * active root), other than `except`; NULL when there is none.
 */
function chosenChild(room: string, parent: string, except: string): string {
  const pick = (where: string) => `(
      SELECT c.id, c.chosen_version, c.created_at FROM messages c
      WHERE c.chat_room_id = ${room} AND ${where} AND c.id IS DISTINCT FROM ${except}
      ORDER BY ${CHOSEN_FIRST} LIMIT 1)`;
  return `(SELECT c.id FROM (
      ${pick(`c.parent_id = ${parent}`)}
      UNION ALL ${pick(`${parent} IS NULL AND c.parent_id IS NULL`)}
    ) c ORDER BY ${CHOSEN_FIRST} LIMIT 1)`;
}

/**
 * The messages from `start`'s most recently active child (`except` left out) down to the leaf
 * that was active most recently below it, as rows (id, depth from 1): how a branch is gone
 * down again. Empty when `start` has no (other) child. `most`: at most that many.
 */
export function descent(
  room: string,
  start: string,
  except = 'NULL::uuid',
  most = 'NULL::int',
): string {
  return `
    WITH RECURSIVE d(id, n) AS (
      SELECT f.id, 1 FROM (SELECT ${chosenChild(room, start, except)} AS id) f WHERE f.id IS NOT NULL
      UNION ALL
      SELECT c.id, d.n + 1 FROM d CROSS JOIN LATERAL (
        SELECT c.id FROM messages c WHERE c.chat_room_id = ${room} AND c.parent_id = d.id
        ORDER BY ${CHOSEN_FIRST} LIMIT 1
      ) c
      WHERE d.n < coalesce(${most}, 2147483647)
    ) SELECT id, n FROM d`;
}

/**
 * `from` and its ancestors up to the first one on the active path (the branch point, included,
 * with on_path true), as rows (id, created_at, on_path). Empty when `from` is NULL or not a
 * message of `room`.
 */
export function ascent(room: string, from: string): string {
  return `
    WITH RECURSIVE w(id, parent_id, created_at, on_path) AS (
      SELECT m.id, m.parent_id, m.created_at, m.on_active_path FROM messages m
      WHERE m.chat_room_id = ${room} AND m.id = ${from}
      UNION ALL
      SELECT p.id, p.parent_id, p.created_at, p.on_active_path
      FROM w JOIN messages p ON p.chat_room_id = ${room} AND p.id = w.parent_id
      WHERE NOT w.on_path
    ) SELECT id, created_at, on_path FROM w`;
}

/**
 * The messages of the active path after the branch point `branch` (a CTE of at most one row
 * (id, created_at); none: the whole path), which leave the path when a branch below the
 * branch point becomes active. Conversation order is the path's order, (created_at, id).
 */
export function pathAfter(room: string, branch: string): string {
  return `
    SELECT m.id FROM messages m
    WHERE m.chat_room_id = ${room} AND m.on_active_path
      AND (NOT EXISTS (SELECT FROM ${branch})
           OR (m.created_at, m.id) > (SELECT b.created_at, b.id FROM ${branch} b))`;
}

/**
 * Applies `changes` (rows (id, on_path boolean|NULL, siblings int): NULL on_path leaves the
 * flag, `siblings` is added to sibling_count; one message may have several rows) in one UPDATE,
 * only when the CTE `when` has a row: a message that joins the active path gets `version` as
 * its chosen_version. Only rows that change are written.
 */
export function applyChanges(changes: string, version: string, when: string): string {
  return `
    UPDATE messages m SET
      on_active_path = coalesce(t.on_path, m.on_active_path),
      chosen_version = CASE WHEN t.on_path AND NOT m.on_active_path THEN ${version} ELSE m.chosen_version END,
      sibling_count = m.sibling_count + t.siblings
    FROM (
      SELECT id, bool_or(on_path) AS on_path, sum(siblings)::int AS siblings FROM (${changes}) c GROUP BY id
    ) t
    WHERE m.id = t.id AND EXISTS (SELECT FROM ${when})
      AND (m.on_active_path IS DISTINCT FROM coalesce(t.on_path, m.on_active_path) OR t.siblings <> 0)
    RETURNING m.id`;
}

/** The children of `parent` in `room` (NULL: the roots). */
export function childrenOf(room: string, parent: string): string {
  return `
    SELECT c.id FROM messages c WHERE c.chat_room_id = ${room} AND c.parent_id = ${parent}
    UNION ALL
    SELECT c.id FROM messages c WHERE ${parent} IS NULL AND c.chat_room_id = ${room} AND c.parent_id IS NULL`;
}
