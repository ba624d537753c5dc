import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { getRoom, TreeMessage } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';

const MISSING = '00000000-0000-4000-8000-000000000000';

interface Node {
  id: string;
  parentId: string | null;
  /** Creation order. */
  seq: number;
  /** Logical time it was last the room's active message (0: never). */
  lastActive: number;
  /** Logical time it was last on the active path (0: never). */
  lastOnPath: number;
}

/**
 * What the room should look like, kept beside the API: the tree, the active message, the
 * version, and for each message when it was last active and last on the active path, to say
 * where "the most recently active leaf below" a message is.
 */
class TreeModel {
  readonly nodes = new Map<string, Node>();
  readonly gone: string[] = [];
  active: string | null = null;
  version = 1;
  /** Switches and deletes whose landing place the readings of the contract disagree on. */
  ambiguous = 0;
  private clock = 0;
  private seq = 0;

  ordered(): Node[] {
    return [...this.nodes.values()].sort((a, b) => a.seq - b.seq);
  }
  children(parent: string | null): Node[] {
    return this.ordered().filter((n) => n.parentId === parent);
  }
  path(id: string | null): string[] {
    const out: string[] = [];
    for (let at = id; at !== null; at = this.nodes.get(at)!.parentId) out.unshift(at);
    return out;
  }
  subtree(id: string): string[] {
    return [id, ...this.children(id).flatMap((c) => this.subtree(c.id))];
  }
  /** The leaves below `from` (itself when it has no children); every leaf for null. */
  private leavesBelow(from: string | null): Node[] {
    const within =
      from === null ? this.ordered() : this.subtree(from).map((id) => this.nodes.get(id)!);
    return within.filter((n) => this.children(n.id).length === 0);
  }
  /**
   * Where the active message lands going down from `from` (null: the whole room). The contract
   * says "the leaf that was active most recently below it (the newest leaf when none was)";
   * three readings of that differ only after an off-path delete removed the most recent
   * activity below `from`: following, level by level, the child last on the active path;
   * the leaf last the active message; the leaf last on the active path. Any of them is taken.
   */
  landings(from: string | null): Set<string | null> {
    if (from === null && this.nodes.size === 0) return new Set([null]);
    const newest = (nodes: Node[], key: 'lastActive' | 'lastOnPath') =>
      nodes.reduce((best, n) =>
        n[key] > best[key] || (n[key] === best[key] && n.seq > best.seq) ? n : best,
      ).id;
    let at = from;
    for (let kids = this.children(at); kids.length > 0; kids = this.children(at)) {
      at = newest(kids, 'lastOnPath');
    }
    const leaves = this.leavesBelow(from);
    return new Set([at, newest(leaves, 'lastActive'), newest(leaves, 'lastOnPath')]);
  }
  activate(id: string | null, isActive = true): void {
    this.clock += 1;
    this.active = id;
    for (const on of this.path(id)) this.nodes.get(on)!.lastOnPath = this.clock;
    if (id !== null && isActive) this.nodes.get(id)!.lastActive = this.clock;
  }
  add(id: string, parentId: string | null): void {
    this.nodes.set(id, { id, parentId, seq: ++this.seq, lastActive: 0, lastOnPath: 0 });
  }
  remove(id: string): string[] {
    const gone = this.subtree(id);
    for (const g of gone) this.nodes.delete(g);
    this.gone.push(...gone);
    return gone;
  }
}

type Op =
  | { kind: 'post'; parent: 'active' | 'root' | number; role: 'user' | 'assistant' }
  | { kind: 'switch'; target: number }
  | { kind: 'delete'; target: number }
  | { kind: 'regenerate'; target: number }
  | { kind: 'generate' }
  | { kind: 'stale'; target: number }
  | { kind: 'gone'; target: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('post' as const),
      parent: fc.oneof(fc.constant('active' as const), fc.constant('root' as const), fc.nat(40)),
      role: fc.constantFrom('user' as const, 'assistant' as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('switch' as const), target: fc.nat(40) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), target: fc.nat(40) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('regenerate' as const), target: fc.nat(40) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('generate' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stale' as const), target: fc.nat(40) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gone' as const), target: fc.nat(40) }) },
);

const post = (
  parent: Extract<Op, { kind: 'post' }>['parent'],
  role: 'user' | 'assistant' = 'user',
): Op => ({
  kind: 'post',
  parent,
  role,
});

jest.setTimeout(120_000);

/**
 * Property: whatever sequence of posts (with and without parentId), switches, deletes,
 * regenerations and refused writes a client sends, the room stays one consistent tree — read
 * back through `branch=all` and GET room — and lands where an in-test model of the contract
 * says, its version one higher per write.
 */
describe('conversation tree invariants under random operations (e2e)', () => {
  let t: AssistantTestApp;
  let user: RegisteredUser;

  beforeAll(async () => {
    t = await startAssistantApp();
    user = await registerUser(t.http);
    t.fake.defaultScript = { tokens: ['re', 'ply'] };
  });
  afterAll(() => t.close());

  const ended = (generationId: string) =>
    eventually(
      async () => {
        const res = await t.http.get(`/api/generations/${generationId}`).set(user.auth).expect(200);
        return res.body.status !== 'streaming';
      },
      { message: `generation ${generationId} ended` },
    );

  /** Applies one op through HTTP and to the model; answers where the active message may be. */
  async function apply(roomId: string, model: TreeModel, op: Op): Promise<Set<string | null>> {
    const live = model.ordered();
    const pick = (n: number) => (live.length ? live[n % live.length] : undefined);
    const messages = `/api/chat-rooms/${roomId}/messages`;
    switch (op.kind) {
      case 'post': {
        const target = typeof op.parent === 'number' ? pick(op.parent) : undefined;
        const body: Record<string, unknown> = {
          content: `${op.kind} ${model.version}`,
          role: op.role,
        };
        if (op.parent === 'root') body.parentId = null;
        if (target) body.parentId = target.id;
        const res = await t.http.post(messages).set(user.auth).send(body).expect(201);
        const parentId = op.parent === 'root' ? null : target ? target.id : model.active;
        expect(res.body.parentId).toBe(parentId);
        model.add(res.body.id, parentId);
        model.activate(res.body.id);
        model.version += 1;
        return new Set([res.body.id]);
      }
      case 'switch': {
        const target = pick(op.target);
        if (!target) return apply(roomId, model, post('active'));
        const res = await t.http
          .put(`/api/chat-rooms/${roomId}/active-message`)
          .set(user.auth)
          .send({ messageId: target.id })
          .expect(200);
        expect(res.headers.etag).toBe(`"${model.version + 1}"`);
        model.version += 1;
        return model.landings(target.id);
      }
      case 'delete': {
        const target = pick(op.target);
        if (!target) return apply(roomId, model, post('root'));
        await t.http.delete(`${messages}/${target.id}`).set(user.auth).expect(204);
        const wasActive = model.active !== null && model.subtree(target.id).includes(model.active);
        model.remove(target.id);
        model.version += 1;
        if (!wasActive) return new Set([model.active]);
        return model.landings(target.parentId);
      }
      case 'regenerate':
      case 'generate': {
        const target = op.kind === 'regenerate' ? pick(op.target) : undefined;
        if (op.kind === 'regenerate' && !target) return apply(roomId, model, post('active'));
        const body = target ? { parentId: target.id } : { content: `asked at ${model.version}` };
        const res = await t.http
          .post(`/api/chat-rooms/${roomId}/generations`)
          .set(user.auth)
          .send(body)
          .expect(202);
        let parentId = target ? target.id : model.active;
        if (res.body.userMessage) {
          expect(res.body.userMessage.parentId).toBe(parentId);
          model.add(res.body.userMessage.id, parentId);
          parentId = res.body.userMessage.id;
        }
        expect(res.body.assistantMessage.parentId).toBe(parentId);
        model.add(res.body.assistantMessage.id, parentId);
        model.activate(res.body.assistantMessage.id);
        await ended(res.body.generation.id);
        model.version += 2; // its start and its end
        return new Set([res.body.assistantMessage.id]);
      }
      case 'stale': {
        // A write from a tab that holds an older version: 412, nothing changes.
        const stale = `"${model.version - 1}"`;
        const target = pick(op.target);
        const request =
          op.target % 3 === 0 || !target
            ? t.http.post(messages).send({ content: 'from a stale tab' })
            : op.target % 3 === 1
              ? t.http
                  .put(`/api/chat-rooms/${roomId}/active-message`)
                  .send({ messageId: target.id })
              : t.http.delete(`${messages}/${target.id}`);
        expectErrorBody(await request.set(user.auth).set('If-Match', stale), 412);
        return new Set([model.active]);
      }
      case 'gone': {
        // A message deleted earlier (or never there): 404, nothing changes.
        const id = model.gone.length ? model.gone[op.target % model.gone.length] : MISSING;
        const request =
          op.target % 2 === 0
            ? t.http.put(`/api/chat-rooms/${roomId}/active-message`).send({ messageId: id })
            : t.http.delete(`${messages}/${id}`);
        expectErrorBody(await request.set(user.auth), 404);
        return new Set([model.active]);
      }
    }
  }

  /** Reads the room back and checks every invariant; syncs the model to where it landed. */
  async function check(roomId: string, model: TreeModel, landings: Set<string | null>) {
    const room = await getRoom(t.http, user, roomId);
    const page = await t.http
      .get(`/api/chat-rooms/${roomId}/messages?branch=all&limit=200`)
      .set(user.auth)
      .expect(200);
    expect(page.body.hasMore).toBe(false);
    const everything = page.body.items as TreeMessage[];
    const byId = new Map(everything.map((m) => [m.id, m]));

    // The version: one per write.
    expect(room.version).toBe(model.version);

    // The same messages as the model, in conversation order (here, the order they were made).
    expect(everything.map((m) => m.id)).toEqual(model.ordered().map((n) => n.id));
    for (let i = 1; i < everything.length; i++) {
      const [a, b] = [everything[i - 1], everything[i]];
      expect(a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id)).toBe(true);
    }

    for (const m of everything) {
      // Every parent is a message of the same room, the one the model says.
      expect(m.chatRoomId).toBe(roomId);
      expect(m.parentId).toBe(model.nodes.get(m.id)!.parentId);
      if (m.parentId !== null) expect(byId.has(m.parentId)).toBe(true);
      // siblingIds: every message with the same parent, in conversation order.
      expect(m.siblingIds).toEqual(
        everything.filter((s) => s.parentId === m.parentId).map((s) => s.id),
      );
    }

    // The active message: where the contract says; the model follows where it landed.
    expect(landings).toContain(room.activeMessageId);
    if (landings.size > 1) model.ambiguous += 1;
    if (room.activeMessageId !== model.active) model.activate(room.activeMessageId);

    // The active path: the chain from a root down to activeMessageId, as GET room shows it.
    const chain: string[] = [];
    for (let at = room.activeMessageId; at !== null; at = byId.get(at)!.parentId) {
      chain.unshift(at);
    }
    expect(chain).toEqual(model.path(room.activeMessageId));
    expect(room.messages.map((m) => m.id)).toEqual(chain);
    expect(room.messages).toEqual(chain.map((id) => byId.get(id)));
    if (chain.length > 0) {
      expect(byId.get(chain[0])!.parentId).toBeNull();
      // The active message is a leaf: every switch and delete goes down to one.
      expect(everything.some((m) => m.parentId === room.activeMessageId)).toBe(false);
    }
    return { room, everything };
  }

  async function run(ops: Op[]): Promise<void> {
    const title = `tree ${randomUUID()}`;
    const created = await t.http.post('/api/chat-rooms').set(user.auth).send({ title }).expect(201);
    const roomId = created.body.id as string;
    const model = new TreeModel();
    expect(created.body).toMatchObject({ version: 1, activeMessageId: null });
    for (const op of ops) {
      const landings = await apply(roomId, model, op);
      await check(roomId, model, landings);
    }
    // The summary agrees: every branch counted, the active path's last message.
    const { room, everything } = await check(roomId, model, new Set([model.active]));
    const list = await t.http.get('/api/chat-rooms').query({ q: title }).set(user.auth).expect(200);
    expect(list.body.items).toHaveLength(1);
    expect(list.body.items[0]).toMatchObject({
      id: roomId,
      version: room.version,
      activeMessageId: room.activeMessageId,
      messageCount: everything.length,
      lastMessage: room.messages.at(-1) ?? null,
    });
  }

  it('keeps one consistent tree, where the model says, one version per write', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 14 }), (ops) => run(ops)),
      {
        numRuns: 25,
        // Sequences worth running every time, besides the random ones.
        examples: [
          // Two branches under one message; back and forth; the subtree of the active one deleted.
          [
            [
              post('active'),
              post('active', 'assistant'),
              post('active'),
              post(1),
              { kind: 'switch', target: 2 },
              post(0, 'assistant'),
              { kind: 'switch', target: 1 },
              { kind: 'delete', target: 1 },
              { kind: 'gone', target: 0 },
              { kind: 'stale', target: 1 },
            ],
          ],
          // The most recent activity below a message is deleted off the active path, then the
          // message is switched to (where the readings of "most recently active" part).
          [
            [
              post('active'),
              post('active'),
              post('active'),
              post('active'),
              post(1),
              post('active'),
              post(2),
              post(0),
              { kind: 'delete', target: 6 },
              { kind: 'switch', target: 1 },
            ],
          ],
          // Roots, a regenerate, a reply with a question, every root deleted.
          [
            [
              post('root'),
              { kind: 'regenerate', target: 0 },
              post('root'),
              { kind: 'generate' },
              { kind: 'switch', target: 1 },
              { kind: 'delete', target: 0 },
              { kind: 'delete', target: 0 },
              { kind: 'gone', target: 1 },
            ],
          ],
        ],
        seed: process.env.TREE_SEED ? Number(process.env.TREE_SEED) : undefined,
      },
    );
  });
});
