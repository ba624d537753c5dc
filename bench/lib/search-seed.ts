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

/** Bulk inserts with unnest() arrays, a few thousand rows per statement, two in flight. */
async function insertMessages(
  pool: PgPool,
  rows:
    | AsyncIterable<[string, string, string, string, string]>
    | Iterable<[string, string, string, string, string]>,
): Promise<{ count: number; chars: number }> {
  const inFlight = new Set<Promise<unknown>>();
  let batch: string[][] = [[], [], [], [], []];
  let count = 0;
  let chars = 0;
  let failure: Error | undefined;
  const send = async () => {
    while (inFlight.size >= 2) await Promise.race(inFlight);
    if (failure) throw failure;
    const values = batch;
    batch = [[], [], [], [], []];
    const p = pool
      .query(
        `INSERT INTO messages (chat_room_id, owner_id, role, content, created_at)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])`,
        values,
      )
      .catch((err: unknown) => (failure ??= err instanceof Error ? err : new Error(String(err))))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  for await (const row of rows) {
    row.forEach((value, i) => batch[i].push(value));
    count++;
    chars += row[3].length;
    if (batch[0].length >= 5000) await send();
  }
  if (batch[0].length > 0) await send();
  await Promise.all(inFlight);
  if (failure) throw failure;
  return { count, chars };
}

async function insertRooms(pool: PgPool, rooms: { id: string; owner: string }[]): Promise<void> {
  for (let i = 0; i < rooms.length; i += 5000) {
    const chunk = rooms.slice(i, i + 5000);
    await pool.query(
      `INSERT INTO chat_rooms (id, owner_id, title)
       SELECT id, owner, 'Search bench room' FROM unnest($1::uuid[], $2::uuid[]) AS t(id, owner)`,
      [chunk.map((r) => r.id), chunk.map((r) => r.owner)],
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
  const rooms = searcherIds.flatMap((owner) =>
    Array.from({ length: SEARCHER_ROOMS }, () => ({ id: randomUUID(), owner })),
  );
  await insertRooms(pool, rooms);
  function* rows(): Generator<[string, string, string, string, string]> {
    for (const owner of searcherIds) {
      const own = rooms.filter((r) => r.owner === owner);
      const rare = new Set(
        Array.from({ length: RARE_PER_SEARCHER }, () =>
          intBetween(random, 0, SEARCHER_MESSAGES - 1),
        ),
      );
      for (let m = 0; m < SEARCHER_MESSAGES; m++) {
        let content = sentence(random, logUniform(random, 10, 300));
        if (rare.has(m)) content = `${content} ${RARE_TERM} ${sentence(random, 40)}`;
        yield [
          pick(random, own).id,
          owner,
          m % 2 === 0 ? 'user' : 'assistant',
          content,
          new Date(now - random() * YEAR_MS).toISOString(),
        ];
      }
    }
  }
  const { count, chars } = await insertMessages(pool, rows());
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
  const rooms = users.flatMap(({ id: owner }) =>
    Array.from({ length: BACKGROUND_ROOMS_PER_USER }, () => ({ id: randomUUID(), owner })),
  );
  await insertRooms(pool, rooms);
  function* rows(): Generator<[string, string, string, string, string]> {
    for (let m = 0; m < messages; m++) {
      const room =
        rooms[Math.floor(m / (BACKGROUND_MESSAGES_PER_USER / BACKGROUND_ROOMS_PER_USER))];
      let content = sentence(random, logUniform(random, 10, 300));
      if (random() < 1 / RARE_BACKGROUND_EVERY) content = `${RARE_TERM} ${content}`;
      yield [
        room.id,
        room.owner,
        m % 2 === 0 ? 'user' : 'assistant',
        content,
        new Date(now - random() * YEAR_MS).toISOString(),
      ];
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
