import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { ERROR_MESSAGES } from '../../src/assistant/generation.mapper';
import { FINISH_ATTEMPTS } from '../../src/assistant/generation-runner';
import { MAX_EVENT_BYTES } from '../../src/assistant/model-client';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { LogCapture } from '../helpers/leaks';

const MAX_CHARS = 2000;
const STATEMENT_TIMEOUT_MS = 500;

interface GenerationBody {
  id: string;
  status: string;
  content: string;
  error: { code: string; message: string } | null;
}

jest.setTimeout(60_000);

/** What one model, broken or hostile, can do to the service: bounded. */
describe('reply bounds (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;
  const logs = new LogCapture();

  beforeAll(async () => {
    t = await startAssistantApp(
      {
        // Large: the body's total bound (per token asked for) is then above the huge line.
        LLM_MAX_TOKENS: '100000',
        LLM_REPLY_MAX_CHARS: String(MAX_CHARS),
        DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      },
      { logStream: logs.stream },
    );
    user = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const start = async (roomId: string, status = 202) => {
    const res = await t.http
      .post(`/api/chat-rooms/${roomId}/generations`)
      .set(user.auth)
      .send({ content: 'go' })
      .expect(status);
    return res.body.generation?.id as string;
  };
  /** The model request of the generation `begin` starts. */
  const upstreamOf = async (begin: () => Promise<string>) => {
    const before = t.fake.streamed().length;
    const id = await begin();
    const upstream = await eventually(() => Promise.resolve(t.fake.streamed()[before]));
    return { id, upstream };
  };
  const generation = async (id: string) =>
    (await t.http.get(`/api/generations/${id}`).set(user.auth).expect(200)).body as GenerationBody;
  const ended = (id: string, timeoutMs?: number) =>
    eventually(async () => {
      const g = await generation(id);
      return g.status !== 'streaming' && g;
    }, timeoutMs);

  it('asks the model for at most LLM_MAX_TOKENS', async () => {
    const room = await createRoom(t.http, user);
    const { id, upstream } = await upstreamOf(() => start(room.id));
    await ended(id);
    expect(upstream.body.max_tokens).toBe(100_000);
  });

  it('a model that streams without end: failed/too_long, exactly the cap kept, the request aborted, the room free', async () => {
    const room = await createRoom(t.http, user);
    // 300 does not divide 2000: the cap falls inside a piece.
    t.fake.enqueue({ endless: true, pieceBytes: 300 });
    const { id, upstream } = await upstreamOf(() => start(room.id));
    const g = await ended(id);
    expect(g.status).toBe('failed');
    expect(g.error).toEqual({ code: 'too_long', message: ERROR_MESSAGES.too_long });
    expect(g.content).toBe('x'.repeat(MAX_CHARS));
    const [stored] = (
      await t.db.query<{ length: number }>(
        `SELECT length(m.content) AS length FROM generations g JOIN messages m ON m.id = g.message_id WHERE g.id = $1`,
        [id],
      )
    ).rows;
    expect(stored.length).toBe(MAX_CHARS);
    await upstream.closed;
    expect(upstream.abortedByClient).toBe(true);
    await ended(await start(room.id));
  });

  it('a model line without end: failed/upstream_error, the model request closed, the room free', async () => {
    const room = await createRoom(t.http, user);
    t.fake.enqueue({ hugeLine: 64 * MAX_EVENT_BYTES });
    const { id, upstream } = await upstreamOf(() => start(room.id));
    // The idle timeout (60 s) is not what ends it.
    const g = await ended(id, 15_000);
    expect(g.status).toBe('failed');
    expect(g.error?.code).toBe('upstream_error');
    await upstream.closed;
    expect(upstream.abortedByClient).toBe(true);
    // The client stopped reading at the bound: what the fake could write beyond it sat in
    // socket buffers, never in the line decoder.
    expect(upstream.bytes).toBeLessThan(16 * MAX_EVENT_BYTES);
    await ended(await start(room.id));
  });

  /**
   * Holds the generation's row locked from the test's own connection until the runner has
   * given up storing its end (each attempt meets the statement timeout) and the registry's
   * first try at ending it has failed too, then lets go.
   */
  async function endStoreFails(roomId: string): Promise<string> {
    t.fake.enqueue({ tokens: ['a', 'b', 'c'], paceMs: 200 });
    const id = await start(roomId);
    await t.db.query('BEGIN');
    await t.db.query('SELECT 1 FROM generations WHERE id = $1 FOR UPDATE', [id]);
    try {
      const gaveUp = (entry: Record<string, unknown>) =>
        entry.msg === 'Storing the end of a generation failed' &&
        entry.generationId === id &&
        entry.attempt === FINISH_ATTEMPTS;
      const settleFailed = (entry: Record<string, unknown>) =>
        entry.msg === 'Ending generations whose end store failed did not succeed';
      await eventually(() => {
        const entries = logs.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
        const at = entries.findIndex(gaveUp);
        return at >= 0 && entries.slice(at + 1).some(settleFailed);
      });
    } finally {
      await t.db.query('ROLLBACK');
    }
    return id;
  }

  it('an end store that fails every attempt still ends the generation; the room is free', async () => {
    const room = await createRoom(t.http, user);
    const id = await endStoreFails(room.id);
    // Within a sweep interval (5 s) of the database taking writes again.
    const g = await ended(id);
    expect(g.status).toBe('failed');
    expect(g.error?.code).toBe('interrupted');
    await ended(await start(room.id));
  });

  it('a cancel of a generation whose end store failed answers its terminal state', async () => {
    const room = await createRoom(t.http, user);
    const id = await endStoreFails(room.id);
    const res = await t.http.post(`/api/generations/${id}/cancel`).set(user.auth).expect(200);
    expect(res.body.status).toBe('failed');
    expect(res.body.error.code).toBe('interrupted');
    await ended(await start(room.id));
  });
});
