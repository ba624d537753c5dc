/**
 * The data set. Users are registered through the HTTP API, so their passwords are real argon2id
 * hashes made by the server under test (login then verifies exactly what production would).
 * Rooms and messages go in with bulk SQL — through the API they would take hours.
 *
 * Users [0, tokens)          readers: exactly 20 rooms each, room #0 with exactly 100 messages,
 *                            room #1 with exactly 1,000; the other 18 sized like everyone's.
 * Users [tokens, 2·tokens)   writers: create rooms and post messages during the write scenarios,
 *                            so the readers' data never changes.
 * The rest                   background bulk: `rooms` rooms each.
 * Room sizes and message lengths are log-uniform (see random.ts) within the configured bounds;
 * messages alternate user/assistant, seconds to minutes apart, all in the past.
 *
 * Every room is one line, as the API makes it when nobody branches (and as the migration
 * ConversationTrees makes of older rooms): each message's parent is the one before it in
 * (created_at, id) order, every message is on the active path (sibling_count 1, chosen_version
 * 0), and the room's active_message_id is its newest message. Ids are made here, so all of it
 * goes in with the rows in one pass: the newest message's id when the room is planned (the
 * room row carries it), the others as the messages are written. A room's messages are never
 * split between two INSERTs, so each parent is in the same statement as its child (the
 * foreign key fk_messages_parent is checked at the end of the statement).
 */
import { randomUUID } from 'node:crypto';
import { PgPool } from './deps';
import type { BenchOptions } from './options';
import { corpus, intBetween, logUniform, prng, Random, textOfLength } from './random';
import { Credentials, Reader, ScenarioData, Writer } from './scenarios';

/** The data-set part of the bench options. */
export type SeedSettings = Pick<
  BenchOptions,
  'users' | 'rooms' | 'tokens' | 'minMessages' | 'maxMessages' | 'minChars' | 'maxChars' | 'seed'
>;

export interface SeedStats {
  users: number;
  rooms: number;
  messages: number;
  averageMessageChars: number;
  databaseBytes: number;
  registerSeconds: number;
  insertSeconds: number;
}

interface RegisteredUser extends Credentials {
  id: string;
  token: string;
}

const READER_ROOMS = 20;
const WRITER_ROOMS_USED = 8;
const CURSORS_PER_READER = 64;

/** Registers `count` users through POST /api/auth/register, a few at a time (argon2 is slow). */
async function registerUsers(
  baseUrl: string,
  count: number,
  concurrency: number,
): Promise<RegisteredUser[]> {
  const users: RegisteredUser[] = new Array<RegisteredUser>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const credentials = { email: `bench.user${i}@example.com`, password: `bench-password-${i}` };
      const res = await fetch(`${baseUrl}/api/auth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...credentials, displayName: `Bench user ${i}` }),
      });
      const text = await res.text();
      if (res.status !== 201)
        throw new Error(`register user ${i}: HTTP ${res.status} ${text.slice(0, 300)}`);
      const body = JSON.parse(text) as { user?: { id?: string }; accessToken?: string };
      if (typeof body.user?.id !== 'string' || typeof body.accessToken !== 'string') {
        throw new Error(`register user ${i}: unexpected body ${text.slice(0, 300)}`);
      }
      users[i] = { ...credentials, id: body.user.id, token: body.accessToken };
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return users;
}

interface RoomPlan {
  id: string;
  ownerId: string;
  title: string;
  /** Message timestamps (epoch ms, ascending); the room's created_at precedes the first. */
  times: number[];
  /** The id of the newest message, the room's active message (null: no messages). */
  activeId: string | null;
}

function planRoom(
  random: Random,
  ownerId: string,
  messageCount: number,
  titles: string,
  now: number,
): RoomPlan {
  const gaps: number[] = [];
  let span = 0;
  for (let i = 0; i < messageCount; i++) {
    const gap = 1000 * logUniform(random, 2, 900); // 2 s to 15 min between messages
    gaps.push(gap);
    span += gap;
  }
  // The newest message between an hour and 60 days ago.
  const end = now - 1000 * logUniform(random, 3600, 60 * 86400);
  let t = end - span;
  const times = gaps.map((gap) => (t += gap));
  return {
    id: randomUUID(),
    ownerId,
    title: textOfLength(random, titles, intBetween(random, 8, 60)).trim() || 'Untitled chat',
    times,
    activeId: times.length > 0 ? randomUUID() : null,
  };
}

/** Bulk inserts with unnest() arrays: one statement per few thousand rows, two in flight. */
class BulkWriter {
  private readonly inFlight = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(
    private readonly pool: PgPool,
    private readonly parallel = 2,
  ) {}

  async add(text: string, values: unknown[]): Promise<void> {
    while (this.inFlight.size >= this.parallel) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const p: Promise<void> = this.pool
      .query(text, values)
      .then(
        () => undefined,
        (err: unknown) => {
          this.failure ??= err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * What the database has of the app's schema: the message_count counter (CreateChat), and
 * conversation trees (ConversationTrees: parents, the active path, the room's active message).
 * An app built before a migration (`--app-entry` of an older checkout) gets rows it can read.
 */
export const SEED_SCHEMA_PROBE = `
  SELECT
    EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
            AND table_name = 'chat_rooms' AND column_name = 'message_count') AS "messageCount",
    EXISTS (SELECT FROM information_schema.columns WHERE table_schema = current_schema()
            AND table_name = 'messages' AND column_name = 'on_active_path') AS "trees"`;
export interface SeedSchema {
  messageCount: boolean;
  trees: boolean;
}

/** Rooms in bulk, with their counter and active message where the schema has them. */
function insertRooms(schema: SeedSchema): string {
  const columns = ['id', 'owner_id', 'title', 'created_at', 'updated_at'];
  const types = ['uuid', 'uuid', 'text', 'timestamptz', 'timestamptz'];
  if (schema.messageCount) {
    columns.push('message_count');
    types.push('int');
  }
  if (schema.trees) {
    columns.push('active_message_id');
    types.push('uuid');
  }
  return `
  INSERT INTO chat_rooms (${columns.join(', ')})
  SELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`;
}

/**
 * Messages in bulk; with trees, each with its id and parent (NULL: the room's first), all on
 * the active path, no siblings.
 */
const insertMessages = (schema: SeedSchema) =>
  schema.trees
    ? `
  INSERT INTO messages (chat_room_id, role, content, created_at, id, parent_id, on_active_path,
                        chosen_version, sibling_count)
  SELECT room, role, content, created_at, id, parent, true, 0, 1
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::uuid[], $6::uuid[])
    AS t(room, role, content, created_at, id, parent)`
    : `
  INSERT INTO messages (chat_room_id, role, content, created_at)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])`;

export async function seed(
  baseUrl: string,
  pool: PgPool,
  settings: SeedSettings,
  log: (line: string) => void,
): Promise<{ data: ScenarioData; stats: SeedStats }> {
  const t0 = Date.now();
  const users = await registerUsers(baseUrl, settings.users, 4);
  const t1 = Date.now();
  log(`registered ${users.length} users through the API in ${((t1 - t0) / 1000).toFixed(1)} s`);

  const random = prng(settings.seed);
  const text = corpus(random, 1 << 20);
  const now = Date.now();
  const size = () =>
    logUniform(random, Math.max(1, settings.minMessages), settings.maxMessages) -
    (settings.minMessages === 0 ? 1 : 0);

  // Plan every room first (rooms must exist before their messages: foreign key).
  const plans: RoomPlan[] = [];
  const readerRooms: { room100: string; room1000: string }[] = [];
  users.forEach((user, u) => {
    const isReader = u < settings.tokens;
    const count = isReader ? READER_ROOMS : settings.rooms;
    for (let r = 0; r < count; r++) {
      const messages = isReader && r === 0 ? 100 : isReader && r === 1 ? 1000 : size();
      plans.push(planRoom(random, user.id, messages, text, now));
    }
    if (isReader)
      readerRooms.push({
        room100: plans[plans.length - count].id,
        room1000: plans[plans.length - count + 1].id,
      });
  });

  const {
    rows: [schema],
  } = await pool.query<SeedSchema>(SEED_SCHEMA_PROBE);
  const writer = new BulkWriter(pool);
  const iso = (ms: number) => new Date(ms).toISOString();
  for (let i = 0; i < plans.length; i += 2000) {
    const chunk = plans.slice(i, i + 2000);
    const columns: (string | null)[][] = [
      chunk.map((p) => p.id),
      chunk.map((p) => p.ownerId),
      chunk.map((p) => p.title),
      chunk.map((p) => iso((p.times[0] ?? now - 86400_000) - 60_000)),
      chunk.map((p) =>
        iso(p.times[p.times.length - 1] ?? (p.times[0] ?? now - 86400_000) - 60_000),
      ),
    ];
    if (schema.messageCount) columns.push(chunk.map((p) => String(p.times.length)));
    if (schema.trees) columns.push(chunk.map((p) => p.activeId));
    await writer.add(insertRooms(schema), columns);
  }
  await writer.flush();

  let batch = {
    rooms: [] as string[],
    roles: [] as string[],
    contents: [] as string[],
    times: [] as string[],
    ids: [] as string[],
    parents: [] as (string | null)[],
    chars: 0,
  };
  let messages = 0;
  let chars = 0;
  const send = () =>
    writer.add(
      insertMessages(schema),
      schema.trees
        ? [batch.rooms, batch.roles, batch.contents, batch.times, batch.ids, batch.parents]
        : [batch.rooms, batch.roles, batch.contents, batch.times],
    );
  for (const plan of plans) {
    let parent: string | null = null;
    for (let m = 0; m < plan.times.length; m++) {
      const content = textOfLength(
        random,
        text,
        logUniform(random, settings.minChars, settings.maxChars),
      );
      const id = m === plan.times.length - 1 ? plan.activeId! : randomUUID();
      batch.rooms.push(plan.id);
      batch.roles.push(m === 0 && random() < 0.1 ? 'system' : m % 2 === 0 ? 'user' : 'assistant');
      batch.contents.push(content);
      batch.times.push(iso(plan.times[m]));
      batch.ids.push(id);
      batch.parents.push(parent);
      batch.chars += content.length;
      parent = id;
    }
    // A room's messages go in one statement (see the top of this file).
    if (batch.rooms.length >= 5000 || batch.chars >= 4_000_000) {
      messages += batch.rooms.length;
      chars += batch.chars;
      await send();
      batch = { rooms: [], roles: [], contents: [], times: [], ids: [], parents: [], chars: 0 };
    }
  }
  if (batch.rooms.length > 0) {
    messages += batch.rooms.length;
    chars += batch.chars;
    await send();
  }
  await writer.flush();
  // Fresh statistics and visibility map, as a long-running database would have (index-only
  // scans for messageCount depend on the visibility map).
  await pool.query('VACUUM (ANALYZE) users, chat_rooms, messages');
  const t2 = Date.now();
  log(
    `inserted ${plans.length} rooms and ${messages} messages in ${((t2 - t1) / 1000).toFixed(1)} s`,
  );

  // Readers: their two special rooms must really hold 100 and 1,000 messages (on one line,
  // active at the newest, when the schema has trees), and 20 rooms.
  const line = (room: string) =>
    schema.trees
      ? `(SELECT count(*)::int FROM (
           SELECT m.on_active_path AND m.parent_id IS NOT DISTINCT FROM
                    lag(m.id) OVER (ORDER BY m.created_at, m.id) AS linked,
                  m.id = r.active_message_id AS active,
                  row_number() OVER (ORDER BY m.created_at DESC, m.id DESC) AS newest
           FROM messages m JOIN chat_rooms r ON r.id = m.chat_room_id WHERE m.chat_room_id = ${room}
         ) l WHERE l.linked AND l.active = (l.newest = 1))`
      : `(SELECT count(*)::int FROM messages WHERE chat_room_id = ${room})`;
  const readers: Reader[] = [];
  for (let u = 0; u < settings.tokens; u++) {
    const { room100, room1000 } = readerRooms[u];
    const { rows: check } = await pool.query<{ rooms: number; m100: number; m1000: number }>(
      `SELECT (SELECT count(*)::int FROM chat_rooms WHERE owner_id = $1) AS rooms,
              ${line('$2')} AS m100, ${line('$3')} AS m1000`,
      [users[u].id, room100, room1000],
    );
    if (check[0].rooms !== READER_ROOMS || check[0].m100 !== 100 || check[0].m1000 !== 1000) {
      throw new Error(`seed check failed for reader ${u}: ${JSON.stringify(check[0])}`);
    }
    // `before` cursors with at least 50 older messages (so every page is full) and at least one
    // newer (a client pages back from what it already shows).
    const { rows } = await pool.query<{ id: string }>(
      `SELECT id FROM messages WHERE chat_room_id = $1 ORDER BY created_at, id OFFSET 50 LIMIT 949`,
      [room1000],
    );
    const cursors = Array.from(
      { length: CURSORS_PER_READER },
      () => rows[Math.floor(random() * rows.length)].id,
    );
    readers.push({ token: users[u].token, room100, room1000, cursors });
  }

  const writers: Writer[] = [];
  for (let u = settings.tokens; u < 2 * settings.tokens; u++) {
    const rooms = plans
      .filter((p) => p.ownerId === users[u].id)
      .slice(0, WRITER_ROOMS_USED)
      .map((p) => p.id);
    writers.push({ token: users[u].token, rooms });
  }

  const { rows: sizeRows } = await pool.query<{ bytes: string }>(
    'SELECT pg_database_size(current_database()) AS bytes',
  );
  return {
    data: {
      readers,
      writers,
      logins: users.map(({ email, password }) => ({ email, password })),
      minChars: settings.minChars,
      maxChars: settings.maxChars,
    },
    stats: {
      users: users.length,
      rooms: plans.length,
      messages,
      averageMessageChars: messages > 0 ? Math.round(chars / messages) : 0,
      databaseBytes: Number(sizeRows[0].bytes),
      registerSeconds: (t1 - t0) / 1000,
      insertSeconds: (t2 - t1) / 1000,
    },
  };
}
