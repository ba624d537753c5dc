/**
 * The search data set (bench/search.ts). Messages are word salad in several languages, so that
 * trigram posting lists look like real chat: a few very common words, Korean words with their
 * particles attached, Japanese, Chinese, accents, emoji.
 *
 * Searchers: `searchers` users registered through the API, each with exactly SEARCHER_MESSAGES
 *   messages in SEARCHER_ROOMS rooms. Their history never changes between the two phases.
 * Background: everyone else, BACKGROUND_MESSAGES_PER_USER messages each, in bulk SQL; the
 *   growth phase adds more background users until the database holds `growth` times as many
 *   messages. Timestamps of all messages spread over the same year, so new background messages
 *   interleave with the searchers' in time.
 * Planted terms: RARE_TERM in RARE_PER_SEARCHER messages of each searcher and in one background
 *   message in RARE_BACKGROUND_EVERY; PHRASE in about 1 % of all messages. The word list has no
 *   "서울" other than in 서울에서/서울은 and never ABSENT_KOREAN.
 */
import { randomUUID } from 'node:crypto';
import type { PgPool } from './deps';
import { intBetween, logUniform, pick, prng, Random } from './random';

export const RARE_TERM = 'quokka';
export const PHRASE = 'vacuum analyze';
export const COMMON_TERM = 'the';
export const KOREAN_2 = '서울';
export const ABSENT_KOREAN = '괄호';

export const SEARCHER_MESSAGES = 2_000;
const SEARCHER_ROOMS = 20;
const RARE_PER_SEARCHER = 5;
const RARE_BACKGROUND_EVERY = 20_000;
const BACKGROUND_MESSAGES_PER_USER = 500;
const BACKGROUND_ROOMS_PER_USER = 10;
const YEAR_MS = 365 * 86_400_000;

const WORDS = (
  'the the the the of and to in is you that it was for on are with they at be this have from ' +
  'or one had by but not what all were we when your can said there use each which do how if ' +
  'will up about out many then them so some would make like into time has look more write go ' +
  'see number no way could people my than first been call who now find long down day did get ' +
  'database query index server request latency cache token session message room user model ' +
  'prompt answer question explain example code function error value string array object ' +
  'stream buffer memory deploy build test metric json schema migration table row column ' +
  'transaction commit rollback lock vacuum analyze plan cost rows ' +
  '서울에서 서울은 부산으로 회의를 내일 오늘은 데이터베이스 검색 인덱스를 사용자가 메시지를 ' +
  '확인했어요 그리고 하지만 질문이 있어요 감사합니다 여행 계획 친구를 만났어요 ' +
  '東京 データベース 検索する ありがとう 会議 明日 北京 数据库 搜索 我们 明天 见面 ' +
  'café résumé naïve crème über straße 🎉 😀 👍'
).split(' ');

function sentence(random: Random, chars: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const word = pick(random, WORDS);
    parts.push(word);
    length += word.length + 1;
  }
  if (random() < 0.01) parts.splice(intBetween(random, 0, parts.length), 0, PHRASE);
  return parts.join(' ');
}

export interface SearchSeedStats {
  users: number;
  messages: number;
  averageChars: number;
  seconds: number;
}

/** A message as drawn: room, owner, role, content, created_at (ISO). */
type Drawn = [string, string, string, string, string];
/** A room: its id, owner, and the id its newest message will have (null: none). */
interface Room {
  id: string;
  owner: string;
  activeId: string | null;
}

/**
 * The messages of one room as rows of the INSERT, oldest first, each with its id (the newest
 * one `room.activeId`) and its parent (the one before; NULL for the first). A room's messages
 * never share a created_at, as in the app: of two drawn in the same millisecond, the later one
 * moves a millisecond on.
 */
function line(room: Room, drawn: Drawn[]): (string | null)[][] {
  const rows = drawn
    .map((d) => [...d] as Drawn)
    .sort((a, b) => (a[4] < b[4] ? -1 : a[4] > b[4] ? 1 : 0));
  for (let i = 1; i < rows.length; i++) {
    if (rows[i][4] <= rows[i - 1][4]) {
      rows[i][4] = new Date(Date.parse(rows[i - 1][4]) + 1).toISOString();
    }
  }
  let parent: string | null = null;
  return rows.map((d, i) => {
    const id = i === rows.length - 1 ? room.activeId! : randomUUID();
    const row = [...d, id, parent];
    parent = id;
    return row;
  });
}

/**
 * Bulk inserts with unnest() arrays, a few thousand rows per statement, two in flight; each
 * item is one room's messages (see line()), never split between statements: a parent is in
 * its child's statement (fk_messages_parent is checked at its end).
 */
async function insertMessages(
  pool: PgPool,
  rooms: Iterable<(string | null)[][]>,
): Promise<{ count: number; chars: number }> {
  const inFlight = new Set<Promise<unknown>>();
  let batch: (string | null)[][] = [[], [], [], [], [], [], []];
  let count = 0;
  let chars = 0;
  let failure: Error | undefined;
  const send = async () => {
    while (inFlight.size >= 2) await Promise.race(inFlight);
    if (failure) throw failure;
    const values = batch;
    batch = [[], [], [], [], [], [], []];
    const p = pool
      .query(
        `INSERT INTO messages (chat_room_id, owner_id, role, content, created_at, id, parent_id,
                               on_active_path, chosen_version, sibling_count)
         SELECT room, owner, role, content, created_at, id, parent, true, 0, 1
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], $6::uuid[], $7::uuid[])
           AS t(room, owner, role, content, created_at, id, parent)`,
        values,
      )
      .catch((err: unknown) => (failure ??= err instanceof Error ? err : new Error(String(err))))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  for (const rows of rooms) {
    for (const row of rows) {
      row.forEach((value, i) => batch[i].push(value));
      count++;
      chars += row[3]!.length;
    }
    if (batch[0].length >= 5000) await send();
  }
  if (batch[0].length > 0) await send();
  await Promise.all(inFlight);
  if (failure) throw failure;
  return { count, chars };
}

/** The rooms, each with its active message's id (see line()). */
async function insertRooms(pool: PgPool, rooms: Room[]): Promise<void> {
  for (let i = 0; i < rooms.length; i += 5000) {
    const chunk = rooms.slice(i, i + 5000);
    await pool.query(
      `INSERT INTO chat_rooms (id, owner_id, title, active_message_id)
       SELECT id, owner, 'Search bench room', active
       FROM unnest($1::uuid[], $2::uuid[], $3::uuid[]) AS t(id, owner, active)`,
      [chunk.map((r) => r.id), chunk.map((r) => r.owner), chunk.map((r) => r.activeId)],
    );
  }
}

/** The searchers' histories: SEARCHER_MESSAGES each, RARE_PER_SEARCHER with the rare term. */
export async function seedSearchers(
  pool: PgPool,
  searcherIds: string[],
  seed: number,
): Promise<SearchSeedStats> {
  const t0 = Date.now();
  const random = prng(seed);
  const now = Date.now();
  const rooms: Room[] = searcherIds.flatMap((owner) =>
    Array.from({ length: SEARCHER_ROOMS }, () => ({ id: randomUUID(), owner, activeId: null })),
  );
  // Drawn in the same order as before rooms were lines, then grouped by room.
  const drawn = new Map<string, Drawn[]>(rooms.map((r) => [r.id, []]));
  for (const owner of searcherIds) {
    const own = rooms.filter((r) => r.owner === owner);
    const rare = new Set(
      Array.from({ length: RARE_PER_SEARCHER }, () => intBetween(random, 0, SEARCHER_MESSAGES - 1)),
    );
    for (let m = 0; m < SEARCHER_MESSAGES; m++) {
      let content = sentence(random, logUniform(random, 10, 300));
      if (rare.has(m)) content = `${content} ${RARE_TERM} ${sentence(random, 40)}`;
      const room = pick(random, own).id;
      drawn
        .get(room)!
        .push([
          room,
          owner,
          m % 2 === 0 ? 'user' : 'assistant',
          content,
          new Date(now - random() * YEAR_MS).toISOString(),
        ]);
    }
  }
  for (const room of rooms) if (drawn.get(room.id)!.length > 0) room.activeId = randomUUID();
  await insertRooms(pool, rooms);
  const rows = rooms.map((room) => line(room, drawn.get(room.id)!));
  const { count, chars } = await insertMessages(pool, rows);
  return {
    users: searcherIds.length,
    messages: count,
    averageChars: Math.round(chars / count),
    seconds: (Date.now() - t0) / 1000,
  };
}

/** Background users and their messages until `messages` more exist. */
export async function seedBackground(
  pool: PgPool,
  messages: number,
  seed: number,
  prefix: string,
): Promise<SearchSeedStats> {
  const t0 = Date.now();
  const random = prng(seed);
  const now = Date.now();
  const userCount = Math.ceil(messages / BACKGROUND_MESSAGES_PER_USER);
  const { rows: users } = await pool.query<{ id: string }>(
    `INSERT INTO users (email, password_hash)
     SELECT $1 || i || '@example.com', 'not-a-hash' FROM generate_series(1, $2::int) AS i
     RETURNING id`,
    [`search-bg-${prefix}-`, userCount],
  );
  // Room r holds messages [r·PER_ROOM, (r + 1)·PER_ROOM) of the `messages`.
  const perRoom = BACKGROUND_MESSAGES_PER_USER / BACKGROUND_ROOMS_PER_USER;
  const rooms: Room[] = users.flatMap(({ id: owner }) =>
    Array.from({ length: BACKGROUND_ROOMS_PER_USER }, () => ({
      id: randomUUID(),
      owner,
      activeId: null as string | null,
    })),
  );
  rooms.forEach((room, r) => {
    if (r * perRoom < messages) room.activeId = randomUUID();
  });
  await insertRooms(pool, rooms);
  function* rows(): Generator<(string | null)[][]> {
    let drawn: Drawn[] = [];
    for (let m = 0; m < messages; m++) {
      const room = rooms[Math.floor(m / perRoom)];
      let content = sentence(random, logUniform(random, 10, 300));
      if (random() < 1 / RARE_BACKGROUND_EVERY) content = `${RARE_TERM} ${content}`;
      drawn.push([
        room.id,
        room.owner,
        m % 2 === 0 ? 'user' : 'assistant',
        content,
        new Date(now - random() * YEAR_MS).toISOString(),
      ]);
      if (m === messages - 1 || (m + 1) % perRoom === 0) {
        yield line(room, drawn);
        drawn = [];
      }
    }
  }
  const { count, chars } = await insertMessages(pool, rows());
  return {
    users: userCount,
    messages: count,
    averageChars: Math.round(chars / count),
    seconds: (Date.now() - t0) / 1000,
  };
}
