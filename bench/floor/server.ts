/**
 * The FLOOR: the benchmarked routes of the API contract with nothing but node:http, pg and
 * argon2 — no framework, no ORM. It answers with the same status codes and JSON shapes as the
 * app, runs the SQL in ./sql.ts over a pg.Pool of the same size, and accepts the app's tokens
 * (and issues tokens the app accepts). The bench runs it side by side with the app on the same
 * database; the app/floor ratio is the price of the framework stack.
 *
 * Honest, not crippled, not cheating: pooled connections, named prepared statements, HS256
 * verification on every authenticated request, and a deleted user's token refused (401) on
 * every route, as the app does it: the chat statements prove the caller exists, and the users
 * table is asked only when they find nothing. argon2id on login, request validation by hand,
 * JSON.stringify for every response. Login and register open a session row and set the refresh
 * cookie as the app does, and `POST /api/auth/refresh` rotates it in one locked transaction.
 *
 * Chat rooms are trees of messages (see ./sql.ts): reads are of the room's active path, posts
 * follow its active message, and rooms carry their version (`ETag`) and active message.
 *
 * What it leaves out, being the lower bound: an access token's session (`sid`) is never checked
 * (a revoked session's tokens keep working until they expire); refresh has only its rotation
 * path (a spent token is a plain 401: no grace answer, no reuse detection); no rate limits, no
 * CORS, no security headers; no byte budget on answers (the app embeds fewer messages when
 * they pass 2 MiB of content: the bench's never do). Of the conversation-tree writes it has
 * none but the plain post: a post with `parentId`, `If-Match`, and the routes that switch,
 * delete or fork branches are not served (no scenario sends them).
 *
 * Environment: DATABASE_URL, PORT, HOST (127.0.0.1), JWT_SECRET, JWT_EXPIRES_IN (3600),
 * DB_POOL_SIZE (10), SESSION_IDLE_DAYS (7), SESSION_MAX_DAYS (30), CORS_ORIGINS (origins the
 * cookie routes accept besides the server's own), NODE_ENV (`production`: a Secure cookie).
 */
import { randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import { argon2id, hash, verify } from 'argon2';
import { pg, PgDatabaseError, PgQueryConfig, PgResult } from '../lib/deps';
import { ISO_TIMESTAMP_TYPES } from '../../src/database/iso-timestamps';
import { Jwt } from './jwt';
import { PresentedToken, RefreshTokenFormat } from './refresh-token';
import {
  buildSql,
  PREVIEW_CHARS,
  ROOM_MESSAGES_MAX,
  SCHEMA_PROBE,
  SchemaFeatures,
  Sql,
  Statement,
} from './sql';
import {
  badRequest,
  emailField,
  HttpError,
  intParam,
  isUuid,
  objectBody,
  queryParams,
  requireUuid,
  roleField,
  STATUS_TEXT,
  stringField,
} from './validate';

const MAX_BODY_BYTES = 256 * 1024;
const DAY_MS = 86_400_000;
const REFRESH_COOKIE = 'refresh_token';

// ---------------------------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------------------------

function env(name: string, fallback?: string): string {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === '') {
    console.error(`floor: ${name} is required`);
    process.exit(1);
  }
  return value;
}

const config = {
  databaseUrl: env('DATABASE_URL'),
  port: Number(env('PORT', '3001')),
  host: env('HOST', '127.0.0.1'),
  jwtSecret: env('JWT_SECRET'),
  jwtExpiresIn: Number(env('JWT_EXPIRES_IN', '3600')),
  poolSize: Number(env('DB_POOL_SIZE', '10')),
  sessionIdleDays: Number(env('SESSION_IDLE_DAYS', '7')),
  sessionMaxDays: Number(env('SESSION_MAX_DAYS', '30')),
  trustedOrigins: new Set(
    (process.env.CORS_ORIGINS ?? '')
      .split(',')
      .map((origin) => origin.trim().replace(/\/$/, '').toLowerCase())
      .filter((origin) => origin !== ''),
  ),
  cookieAttributes: `Path=/api/auth; HttpOnly; SameSite=Strict${process.env.NODE_ENV === 'production' ? '; Secure' : ''}`,
};
if (config.jwtSecret.length < 32) {
  console.error('floor: JWT_SECRET must be at least 32 characters');
  process.exit(1);
}

const pool = new pg.Pool({
  connectionString: config.databaseUrl,
  max: config.poolSize,
  idleTimeoutMillis: 30_000,
  connectionTimeoutMillis: 2_000,
  application_name: 'bench-floor',
  keepAlive: true,
});
pool.on('error', (err) => console.error('floor: idle client error', err.message));

const jwt = new Jwt(config.jwtSecret, config.jwtExpiresIn);
const refreshTokens = new RefreshTokenFormat(config.jwtSecret);

/** The statements for this database's schema variant; set before the server listens. */
let SQL: Sql;

/** Runs a named (prepared) statement. */
// Timestamps arrive as ISO strings, as in the app: the same driver-level type parser.
function run<R>(statement: Statement, values: unknown[]): Promise<PgResult<R>> {
  const query: PgQueryConfig = {
    name: statement.name,
    text: statement.text,
    values,
    types: ISO_TIMESTAMP_TYPES,
  };
  return pool.query<R>(query);
}

// ---------------------------------------------------------------------------------------------
// rows → API shapes
// ---------------------------------------------------------------------------------------------

interface UserRow {
  id: string;
  email: string;
  display_name: string | null;
  created_at: string;
}

interface RoomRow {
  id: string;
  title: string;
  owner_id: string;
  created_at: string;
  updated_at: string;
  model: string | null;
  system_prompt: string | null;
  version: number;
  active_message_id: string | null;
}

interface MessageRow {
  id: string;
  chat_room_id: string;
  role: string;
  content: string;
  created_at: string;
  status: string;
  model: string | null;
  generation_id: string | null;
  parent_id: string | null;
  sibling_ids: string[];
}

interface ListRow extends RoomRow {
  total: number;
  message_count: number;
  lm_id: string | null;
  lm_role: string;
  lm_content: string;
  lm_created_at: string;
  lm_status: string;
  lm_model: string | null;
  lm_generation_id: string | null;
  lm_parent_id: string | null;
  lm_sibling_ids: string[];
}

interface LockedSessionRow {
  user_id: string;
  generation: number;
  token_hash: Buffer;
  idle_expires_at: string;
  expires_at: string;
  revoked_at: string | null;
  email: string;
  display_name: string | null;
  created_at: string;
}

const toUser = (u: UserRow) => ({
  id: u.id,
  email: u.email,
  displayName: u.display_name,
  createdAt: u.created_at,
});

const toRoom = (r: RoomRow) => ({
  id: r.id,
  title: r.title,
  ownerId: r.owner_id,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  model: r.model,
  systemPrompt: r.system_prompt,
  version: r.version,
  activeMessageId: r.active_message_id,
});

/** A room's entity tag: its version, as the app sends it. */
const etag = (r: RoomRow) => `"${r.version}"`;

const toMessage = (m: MessageRow) => ({
  id: m.id,
  chatRoomId: m.chat_room_id,
  role: m.role,
  content: m.content,
  createdAt: m.created_at,
  status: m.status,
  model: m.model,
  generationId: m.generation_id,
  parentId: m.parent_id,
  siblingIds: m.sibling_ids,
});

type Message = ReturnType<typeof toMessage>;

/**
 * A summary's lastMessage: its content cut to PREVIEW_CHARS UTF-16 code units, never half a
 * pair, and then marked `truncated`, as the app's.
 */
function preview(message: Message): Message | (Message & { truncated: true }) {
  const { content } = message;
  if (content.length <= PREVIEW_CHARS) return message;
  const end = PREVIEW_CHARS - (/[\uD800-\uDBFF]/.test(content[PREVIEW_CHARS - 1]) ? 1 : 0);
  return { ...message, content: content.slice(0, end), truncated: true };
}

/** A session's answer: the AuthResult, and the refresh token for the cookie. */
interface SignedIn {
  body: unknown;
  cookie: string;
  /** The access token's expiry, kept in the session row. */
  accessExpiresAt: Date;
}

/** The access token lives JWT_EXPIRES_IN, never past the session's end. */
function signedIn(
  user: UserRow,
  sessionId: string,
  refresh: { token: string; idleExpiresAt: number },
  now: number,
  sessionEnd: number,
): SignedIn {
  const expiresIn = Math.max(1, Math.min(jwt.expiresIn, Math.floor((sessionEnd - now) / 1000)));
  const maxAge = Math.floor((refresh.idleExpiresAt - now) / 1000);
  return {
    body: {
      user: toUser(user),
      accessToken: jwt.sign(user.id, sessionId, expiresIn),
      tokenType: 'Bearer',
      expiresIn,
    },
    cookie: `${REFRESH_COOKIE}=${refresh.token}; Max-Age=${maxAge}; ${config.cookieAttributes}`,
    accessExpiresAt: new Date(now + expiresIn * 1000),
  };
}

function sendSignedIn(res: ServerResponse, status: number, answer: SignedIn): void {
  res.setHeader('set-cookie', answer.cookie);
  send(res, status, answer.body);
}

/** Register and login: a new session, generation 0. */
async function openSession(req: IncomingMessage, user: UserRow): Promise<SignedIn> {
  const now = Date.now();
  const sessionId = randomUUID();
  const { token, secretHash } = refreshTokens.issue(sessionId, 0);
  const expiresAt = now + config.sessionMaxDays * DAY_MS;
  const idleExpiresAt = Math.min(now + config.sessionIdleDays * DAY_MS, expiresAt);
  const answer = signedIn(user, sessionId, { token, idleExpiresAt }, now, expiresAt);
  await run(SQL.openSession, [
    sessionId,
    user.id,
    secretHash,
    new Date(now),
    new Date(idleExpiresAt),
    new Date(expiresAt),
    answer.accessExpiresAt,
    req.headers['user-agent']?.slice(0, 512) ?? null,
  ]);
  return answer;
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing
// ---------------------------------------------------------------------------------------------

function send(res: ServerResponse, status: number, payload?: unknown, tag?: string): void {
  if (payload === undefined) {
    res.writeHead(status).end();
    return;
  }
  const body = JSON.stringify(payload);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (tag !== undefined) headers.etag = tag;
  res.writeHead(status, headers);
  res.end(body);
}

function sendError(res: ServerResponse, status: number, message: string | string[]): void {
  send(res, status, { statusCode: status, error: STATUS_TEXT[status] ?? 'Error', message });
}

/** The parsed JSON body (or undefined when there is none), at most MAX_BODY_BYTES. */
function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    return Promise.reject(new HttpError(413, 'request body is too large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (tooLarge) return reject(new HttpError(413, 'request body is too large'));
      if (size === 0) return resolve(undefined);
      const type = req.headers['content-type'] ?? '';
      if (!type.toLowerCase().startsWith('application/json')) {
        return reject(new HttpError(415, 'the body must be application/json'));
      }
      try {
        resolve(JSON.parse(Buffer.concat(chunks, size).toString('utf8')));
      } catch {
        reject(badRequest('the body is not valid JSON'));
      }
    });
  });
}

/** Verifies the bearer token; the user id it was issued to is returned. */
function tokenUserId(req: IncomingMessage): string {
  const header = req.headers.authorization;
  const userId =
    header !== undefined && header.startsWith('Bearer ')
      ? jwt.verify(header.slice(7).trim())
      : null;
  if (userId === null || !isUuid(userId)) throw new HttpError(401, 'Unauthorized');
  return userId;
}

/** Verifies the bearer token, then that its user still exists; the user row is returned. */
async function authenticate(req: IncomingMessage): Promise<UserRow> {
  const { rows } = await run<UserRow>(SQL.authUser, [tokenUserId(req)]);
  if (rows.length === 0) throw new HttpError(401, 'Unauthorized');
  return rows[0];
}

/** A chat statement found no room of the caller's: 404, or 401 if the caller is gone. */
async function notFound(userId: string): Promise<never> {
  const { rows } = await run(SQL.authUser, [userId]);
  throw rows.length === 0
    ? new HttpError(401, 'Unauthorized')
    : new HttpError(404, 'chat room not found');
}

// ---------------------------------------------------------------------------------------------
// routes
// ---------------------------------------------------------------------------------------------

// A real hash to verify against when the email is unknown, so both 401s cost the same.
const dummyHash = hash('not-a-real-password', { type: argon2id });

async function register(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = objectBody(await readJson(req), ['email', 'password', 'displayName']);
  const email = emailField(body.email);
  const password = stringField(body.password, 'password', { min: 8, max: 128 });
  const displayName =
    body.displayName === undefined || body.displayName === null
      ? null
      : stringField(body.displayName, 'displayName', { min: 1, max: 50, trim: true });
  const passwordHash = await hash(password, { type: argon2id });
  const { rows } = await run<UserRow>(SQL.insertUser, [email, passwordHash, displayName]);
  if (rows.length === 0) throw new HttpError(409, 'email is already registered');
  sendSignedIn(res, 201, await openSession(req, rows[0]));
}

async function login(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = objectBody(await readJson(req), ['email', 'password']);
  const email = emailField(body.email);
  const password = stringField(body.password, 'password', { min: 1, max: 128 });
  const { rows } = await run<UserRow & { password_hash: string }>(SQL.userByEmail, [email]);
  const user = rows[0];
  const ok = await verify(user?.password_hash ?? (await dummyHash), password);
  if (!user || !ok) throw new HttpError(401, 'Invalid email or password');
  sendSignedIn(res, 200, await openSession(req, user));
}

/** The refresh cookie's value, if the request carries one. */
function refreshCookie(req: IncomingMessage): string | undefined {
  for (const pair of (req.headers.cookie ?? '').split(';')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === REFRESH_COOKIE) return pair.slice(eq + 1).trim();
  }
  return undefined;
}

/** CSRF defence of the cookie routes: an Origin, if any, must be ours or a listed one. */
function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin?.toLowerCase();
  if (
    origin !== undefined &&
    !config.trustedOrigins.has(origin) &&
    origin !== `http://${req.headers.host ?? ''}`.toLowerCase()
  ) {
    throw new HttpError(403, 'Origin not allowed');
  }
}

async function refresh(req: IncomingMessage, res: ServerResponse): Promise<void> {
  checkOrigin(req);
  const presented = refreshTokens.parse(refreshCookie(req));
  const answer = presented === null ? null : await rotate(presented);
  if (answer === null) {
    res.setHeader('set-cookie', `${REFRESH_COOKIE}=; Max-Age=0; ${config.cookieAttributes}`);
    throw new HttpError(401, 'Invalid or expired refresh token');
  }
  sendSignedIn(res, 200, answer);
}

/**
 * One transaction: the session's row locked, the presented token checked against it, the next
 * one's hash stored. Only the current token rotates (no grace answer, no reuse detection).
 */
async function rotate(presented: PresentedToken): Promise<SignedIn | null> {
  const client = await pool.connect();
  let answer: SignedIn | null = null;
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<LockedSessionRow>({
      ...SQL.lockSession,
      values: [presented.sessionId],
      types: ISO_TIMESTAMP_TYPES,
    });
    const row = rows[0];
    const now = Date.now();
    const expiresAt = row === undefined ? 0 : Date.parse(row.expires_at);
    if (
      row !== undefined &&
      row.revoked_at === null &&
      Date.parse(row.idle_expires_at) > now &&
      expiresAt > now &&
      row.generation === presented.generation &&
      row.token_hash.length === presented.secretHash.length &&
      timingSafeEqual(row.token_hash, presented.secretHash)
    ) {
      const next = refreshTokens.issue(presented.sessionId, row.generation + 1);
      const idleExpiresAt = Math.min(now + config.sessionIdleDays * DAY_MS, expiresAt);
      const user = { ...row, id: row.user_id };
      answer = signedIn(
        user,
        presented.sessionId,
        { token: next.token, idleExpiresAt },
        now,
        expiresAt,
      );
      await client.query({
        ...SQL.rotateSession,
        values: [
          presented.sessionId,
          next.secretHash,
          new Date(now),
          new Date(idleExpiresAt),
          answer.accessExpiresAt,
        ],
      });
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  return answer;
}

async function me(req: IncomingMessage, res: ServerResponse): Promise<void> {
  send(res, 200, toUser(await authenticate(req)));
}

async function createRoom(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const userId = tokenUserId(req);
  const body = objectBody((await readJson(req)) ?? {}, ['title']);
  const title =
    body.title === undefined
      ? 'New chat'
      : stringField(body.title, 'title', { min: 1, max: 200, trim: true });
  const room = await run<RoomRow>(SQL.insertRoom, [userId, title]).then(
    (result) => result.rows[0],
    (error: unknown) => {
      // The foreign key to users: the token's user no longer exists.
      if ((error as PgDatabaseError).code === '23503') throw new HttpError(401, 'Unauthorized');
      throw error;
    },
  );
  send(res, 201, { ...toRoom(room), messages: [], hasMoreMessages: false }, etag(room));
}

async function listRooms(req: IncomingMessage, res: ServerResponse, search: string): Promise<void> {
  const userId = tokenUserId(req);
  const params = queryParams(search, ['limit', 'offset', 'include']);
  const limit = intParam(params, 'limit', 1, 100, 20);
  const offset = intParam(params, 'offset', 0, 1_000_000_000, 0);
  const include = params.get('include');
  if (include !== undefined && include !== 'messages')
    throw badRequest('include must be "messages"');

  const { rows } = await run<ListRow>(SQL.listRooms, [userId, limit, offset]);
  const total = rows[0]?.total ?? 0;
  // No room at all: the caller may be gone (their rooms went with them).
  if (total === 0 && (await run(SQL.authUser, [userId])).rows.length === 0) {
    throw new HttpError(401, 'Unauthorized');
  }
  const items = rows
    .filter((r) => r.id !== null) // an offset past the end yields one row: just the total
    .map((r) => ({
      ...toRoom(r),
      messageCount: r.message_count,
      lastMessage:
        r.lm_id === null
          ? null
          : preview({
              id: r.lm_id,
              chatRoomId: r.id,
              role: r.lm_role,
              content: r.lm_content,
              createdAt: r.lm_created_at,
              status: r.lm_status,
              model: r.lm_model,
              generationId: r.lm_generation_id,
              parentId: r.lm_parent_id,
              siblingIds: r.lm_sibling_ids,
            }),
      messages: undefined as Message[] | undefined,
      hasMoreMessages: undefined as boolean | undefined,
    }));

  if (include === 'messages' && items.length > 0) {
    const byRoom = new Map<string, Message[]>(items.map((item) => [item.id, []]));
    const { rows: messages } = await run<MessageRow>(SQL.newestMessagesOfRooms, [
      items.map((i) => i.id),
    ]);
    for (const m of messages) byRoom.get(m.chat_room_id)?.push(toMessage(m));
    for (const item of items) {
      item.messages = (byRoom.get(item.id) ?? []).reverse();
      item.hasMoreMessages = item.messages.length < item.messageCount;
    }
  }
  // `undefined` disappears in JSON.stringify, so plain listings have no such keys.
  send(res, 200, { items, total, limit, offset });
}

async function getRoom(req: IncomingMessage, res: ServerResponse, roomId: string): Promise<void> {
  const userId = tokenUserId(req);
  requireUuid(roomId, 'roomId');
  const { rows: rooms } = await run<RoomRow>(SQL.roomForOwner, [roomId, userId]);
  if (rooms.length === 0) return notFound(userId);
  const room = rooms[0];
  const { rows } = await run<MessageRow>(SQL.roomMessages, [roomId]);
  const hasMoreMessages = rows.length > ROOM_MESSAGES_MAX;
  if (hasMoreMessages) rows.length = ROOM_MESSAGES_MAX;
  send(
    res,
    200,
    { ...toRoom(room), messages: rows.reverse().map(toMessage), hasMoreMessages },
    etag(room),
  );
}

async function postMessage(
  req: IncomingMessage,
  res: ServerResponse,
  roomId: string,
): Promise<void> {
  const userId = tokenUserId(req);
  requireUuid(roomId, 'roomId');
  const body = objectBody(await readJson(req), ['content', 'role']);
  const content = stringField(body.content, 'content', { min: 1, max: 32_000, notBlank: true });
  const role = roleField(body.role);
  const { rows } = await run<MessageRow>(SQL.insertMessage, [roomId, userId, role, content]);
  if (rows.length === 0) return notFound(userId);
  send(res, 201, toMessage(rows[0]));
}

async function pageMessages(
  req: IncomingMessage,
  res: ServerResponse,
  roomId: string,
  search: string,
): Promise<void> {
  const userId = tokenUserId(req);
  requireUuid(roomId, 'roomId');
  const params = queryParams(search, ['limit', 'before', 'after', 'branch']);
  const limit = intParam(params, 'limit', 1, 200, 50);
  const before = params.get('before');
  const after = params.get('after');
  const branch = params.get('branch');
  if (branch !== undefined && branch !== 'all') throw badRequest('branch must be "all"');
  const all = branch === 'all';
  if (before !== undefined && after !== undefined)
    throw badRequest('use either before or after, not both');
  const cursor = before ?? after;
  if (cursor !== undefined) requireUuid(cursor, before !== undefined ? 'before' : 'after');

  const { rows: found } = await run<{ cursor_id: string | null; cursor_on_path: boolean | null }>(
    SQL.roomAndCursor,
    [roomId, userId, cursor ?? null],
  );
  if (found.length === 0) return notFound(userId);
  if (cursor !== undefined && found[0].cursor_id === null)
    throw badRequest('the cursor is not a message of this chat room');

  // Without branch=all: the active path, or the path through a cursor that is off it.
  const onPath = found[0].cursor_on_path === true;
  const { rows } =
    cursor === undefined
      ? await run<MessageRow>(all ? SQL.pageNewestAll : SQL.pageNewest, [roomId, limit + 1])
      : await run<MessageRow>(
          before !== undefined
            ? all
              ? SQL.pageBeforeAll
              : onPath
                ? SQL.pageBefore
                : SQL.pageAncestors
            : all
              ? SQL.pageAfterAll
              : onPath
                ? SQL.pageAfter
                : SQL.pageDescendants,
          [roomId, cursor, limit + 1],
        );
  const hasMore = rows.length > limit;
  if (hasMore) rows.length = limit;
  if (after === undefined) rows.reverse(); // newest-first from SQL → oldest first
  send(res, 200, { items: rows.map(toMessage), hasMore });
}

async function health(res: ServerResponse): Promise<void> {
  try {
    await run(SQL.health, []);
    send(res, 200, { status: 'ok' });
  } catch {
    send(res, 503, { status: 'error' });
  }
}

async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const search = q === -1 ? '' : url.slice(q + 1);
  const method = req.method ?? 'GET';

  if (path === '/api/health' && method === 'GET') return health(res);
  if (path === '/api/auth/login' && method === 'POST') return login(req, res);
  if (path === '/api/auth/register' && method === 'POST') return register(req, res);
  if (path === '/api/auth/refresh' && method === 'POST') return refresh(req, res);
  if (path === '/api/users/me' && method === 'GET') return me(req, res);
  if (path === '/api/chat-rooms') {
    if (method === 'GET') return listRooms(req, res, search);
    if (method === 'POST') return createRoom(req, res);
  } else if (path.startsWith('/api/chat-rooms/')) {
    const [roomId, sub, extra] = path.slice('/api/chat-rooms/'.length).split('/');
    if (extra === undefined) {
      if (sub === undefined && method === 'GET')
        return getRoom(req, res, decodeURIComponent(roomId));
      if (sub === 'messages' && method === 'GET')
        return pageMessages(req, res, decodeURIComponent(roomId), search);
      if (sub === 'messages' && method === 'POST')
        return postMessage(req, res, decodeURIComponent(roomId));
    }
  }
  throw new HttpError(404, `Cannot ${method} ${path}`);
}

const server = createServer((req, res) => {
  route(req, res).catch((err: unknown) => {
    if (res.headersSent) return;
    if (err instanceof HttpError) return sendError(res, err.status, err.details);
    // invalid_text_representation & co. mean the input slipped past validation: still a 400.
    const code = (err as PgDatabaseError).code;
    if (code === '22P02' || code === '22021') return sendError(res, 400, 'invalid input');
    console.error('floor: unhandled error', err);
    sendError(res, 500, 'Internal server error');
  });
});

pool
  .query<SchemaFeatures>(SCHEMA_PROBE)
  .then(({ rows }) => {
    if (!rows[0].conversationTrees) {
      console.error(
        'floor: the database has no conversation trees (messages.on_active_path): the floor ' +
          'serves the schema of the migration ConversationTrees and later (an older app: --app-only)',
      );
      process.exit(1);
    }
    SQL = buildSql();
    server.listen(config.port, config.host, () => {
      console.log(`floor: listening on http://${config.host}:${config.port}`);
    });
  })
  .catch((err: unknown) => {
    console.error('floor: cannot read the schema', err);
    process.exit(1);
  });

function shutdown(): void {
  server.close();
  server.closeIdleConnections();
  void pool.end().finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 5_000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
