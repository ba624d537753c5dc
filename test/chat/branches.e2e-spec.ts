import { randomUUID } from 'node:crypto';
import {
  allMessages,
  createRoom,
  getRoom,
  postInTree,
  switchBranch,
  TreeMessage,
  TreeRoom,
} from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { eventually } from '../helpers/eventually';
import { expectErrorBody } from '../helpers/expect-error';
import { openStream } from '../helpers/sse-client';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = '00000000-0000-4000-8000-000000000000';

const ids = (messages: { id: string }[]) => messages.map((m) => m.id);

/** Conversation order: createdAt, then id. */
const inConversationOrder = (messages: TreeMessage[]) =>
  [...messages].sort((a, b) =>
    a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1,
  );

interface GenerationBody {
  id: string;
  status: string;
  content: string;
  messageId: string;
  error: { code: string; message: string } | null;
}

jest.setTimeout(60_000);

/**
 * v3 conversation branches through HTTP: edit (a post beside the edited message), regenerate (a
 * reply beside the earlier one), switching, deleting subtrees, forking, paging every branch, and
 * what a v2 client that knows nothing of branches sees.
 */
describe('conversation branches (e2e)', () => {
  let t: AssistantTestApp;
  let alice: RegisteredUser;
  let bob: RegisteredUser;

  beforeAll(async () => {
    t = await startAssistantApp();
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(() => t.close());
  afterEach(() => (t.fake.defaultScript = { tokens: ['Hello', ', ', 'world', '!'] }));

  const post = (
    roomId: string,
    body: { content: string; role?: string; parentId?: string | null },
  ) => postInTree(t.http, alice, roomId, body);
  const room = (roomId: string, who = alice) => getRoom(t.http, who, roomId);
  const all = (roomId: string, who = alice) => allMessages(t.http, who, roomId);
  const activate = (roomId: string, messageId: string) =>
    switchBranch(t.http, alice, roomId, messageId);
  const generate = (roomId: string, body: object, who = alice) =>
    t.http.post(`/api/chat-rooms/${roomId}/generations`).set(who.auth).send(body);
  const removeMessage = (roomId: string, messageId: string, who = alice) =>
    t.http.delete(`/api/chat-rooms/${roomId}/messages/${messageId}`).set(who.auth);
  const fork = (roomId: string, body: object, who = alice) =>
    t.http.post(`/api/chat-rooms/${roomId}/fork`).set(who.auth).send(body);
  const generation = async (id: string, who = alice) =>
    (await t.http.get(`/api/generations/${id}`).set(who.auth).expect(200)).body as GenerationBody;
  const ended = (id: string) =>
    eventually(
      async () => {
        const g = await generation(id);
        return g.status !== 'streaming' && g;
      },
      { message: `generation ${id} ended` },
    );
  const summaryOf = async (roomId: string, who = alice) => {
    const res = await t.http.get('/api/chat-rooms?limit=100').set(who.auth).expect(200);
    return (res.body.items as { id: string; messageCount: number; lastMessage: unknown }[]).find(
      (r) => r.id === roomId,
    )!;
  };
  const roomsOf = async (user: RegisteredUser) =>
    (
      await t.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM chat_rooms WHERE owner_id = $1',
        [user.id],
      )
    ).rows[0].n;
  const newRoom = async (body: object = {}) =>
    (await t.http.post('/api/chat-rooms').set(alice.auth).send(body).expect(201)).body as TreeRoom;

  describe('editing (a post beside the edited message)', () => {
    it('adds a sibling with the same parent, makes it active, keeps the old branch readable', async () => {
      const r = await createRoom(t.http, alice, 'Edit');
      const u1 = await post(r.id, { content: 'hello' });
      const a1 = await post(r.id, { content: 'hi there', role: 'assistant' });
      const u2 = await post(r.id, { content: 'question one' });
      const a2 = await post(r.id, { content: 'answer one', role: 'assistant' });
      expect(u2.parentId).toBe(a1.id);

      const edited = await t.http
        .post(`/api/chat-rooms/${r.id}/messages`)
        .set(alice.auth)
        .send({ content: 'question two', parentId: u2.parentId })
        .expect(201);
      expect(edited.body).toEqual({
        id: expect.stringMatching(UUID),
        chatRoomId: r.id,
        role: 'user',
        content: 'question two',
        createdAt: expect.any(String),
        status: 'complete',
        model: null,
        generationId: null,
        parentId: a1.id,
        siblingIds: [u2.id, edited.body.id],
      });
      const u2b = edited.body as TreeMessage;

      const shown = await room(r.id);
      expect(shown.activeMessageId).toBe(u2b.id);
      expect(ids(shown.messages)).toEqual([u1.id, a1.id, u2b.id]);
      expect(shown.messages.map((m) => m.siblingIds)).toEqual([[u1.id], [a1.id], [u2.id, u2b.id]]);
      expect(shown.messages[2]).toEqual(u2b);

      // Every branch stays readable, each message with its parent.
      const everything = await all(r.id);
      expect(ids(everything)).toEqual([u1.id, a1.id, u2.id, a2.id, u2b.id]);
      expect(everything.map((m) => m.parentId)).toEqual([null, u1.id, a1.id, u2.id, a1.id]);
      expect(everything.find((m) => m.id === u2.id)).toEqual({
        ...u2,
        siblingIds: [u2.id, u2b.id],
      });
      expect(everything.find((m) => m.id === a2.id)).toEqual({ ...a2, siblingIds: [a2.id] });

      // Counted whole; the last message is the active path's.
      const summary = await summaryOf(r.id);
      expect(summary.messageCount).toBe(5);
      expect(summary.lastMessage).toEqual(u2b);
    });

    it('editing a first message (parentId null) adds a second root', async () => {
      const r = await createRoom(t.http, alice);
      const first = await post(r.id, { content: 'first try' });
      await post(r.id, { content: 'reply', role: 'assistant' });
      const second = await post(r.id, { content: 'second try', parentId: null });
      expect(second.parentId).toBeNull();
      expect(second.siblingIds).toEqual([first.id, second.id]);
      const shown = await room(r.id);
      expect(ids(shown.messages)).toEqual([second.id]);
      expect(shown.activeMessageId).toBe(second.id);
      expect((await all(r.id)).filter((m) => m.parentId === null).map((m) => m.id)).toEqual([
        first.id,
        second.id,
      ]);
    });
  });

  describe('regenerating (a reply beside the earlier one)', () => {
    it('adds an assistant sibling, active; the model gets the system prompt and root..parent, never another branch', async () => {
      const r = await newRoom({ title: 'Regenerate', systemPrompt: 'Be brief.' });
      const root = await post(r.id, { content: 'root question' });
      const a = await post(r.id, { content: 'root answer', role: 'assistant' });
      const u = await post(r.id, { content: 'Tell me about Mars' });

      // The first reply, to the active message (no content, no parentId).
      const asked = t.fake.streamed().length;
      t.fake.enqueue({ tokens: ['PLATYPUS ', 'first ', 'reply'] });
      const first = await generate(r.id, {}).expect(202);
      expect(first.body.userMessage).toBeNull();
      const g1 = first.body.assistantMessage as TreeMessage;
      expect(g1).toMatchObject({ parentId: u.id, siblingIds: [g1.id], status: 'streaming' });
      await ended(first.body.generation.id);

      // Another branch beside u, with words of its own that must never reach the model.
      const other = await post(r.id, { content: 'XYLOPHONE question', parentId: a.id });
      const otherReply = await post(r.id, { content: 'XYLOPHONE answer', role: 'assistant' });
      expect(otherReply.parentId).toBe(other.id);

      // Regenerate the reply to u: streamed, so the events' messages are checked too.
      t.fake.enqueue({ tokens: ['second ', 'reply'] });
      const stream = await openStream(t.base, `/api/chat-rooms/${r.id}/generations`, {
        token: alice.token,
        method: 'POST',
        body: { parentId: u.id },
      });
      expect(stream.status).toBe(200);
      await stream.ended;
      const start = stream.events[0];
      expect(start.event).toBe('start');
      expect(start.data.userMessage).toBeNull();
      const g2 = start.data.assistantMessage as TreeMessage;
      expect(g2).toMatchObject({
        role: 'assistant',
        content: '',
        status: 'streaming',
        parentId: u.id,
        siblingIds: [g1.id, g2.id],
      });
      const done = stream.events.at(-1)!;
      expect(done.event).toBe('done');
      expect(done.data.message).toMatchObject({
        id: g2.id,
        content: 'second reply',
        status: 'complete',
        parentId: u.id,
        siblingIds: [g1.id, g2.id],
      });

      // What the model was sent: the system prompt and the path root..u, both times.
      const path = [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'root question' },
        { role: 'assistant', content: 'root answer' },
        { role: 'user', content: 'Tell me about Mars' },
      ];
      const sent = t.fake.streamed().slice(asked);
      expect(sent).toHaveLength(2);
      expect(sent[0].body.messages).toEqual(path);
      expect(sent[1].body.messages).toEqual(path);
      expect(JSON.stringify(sent[1].body.messages)).not.toMatch(/XYLOPHONE|PLATYPUS/);

      // The new reply is active; the earlier one and the other branch are still there.
      const shown = await room(r.id);
      expect(shown.activeMessageId).toBe(g2.id);
      expect(ids(shown.messages)).toEqual([root.id, a.id, u.id, g2.id]);
      const everything = await all(r.id);
      expect(ids(everything)).toEqual([root.id, a.id, u.id, g1.id, other.id, otherReply.id, g2.id]);
      expect(everything.find((m) => m.id === g1.id)).toMatchObject({
        content: 'PLATYPUS first reply',
        status: 'complete',
        parentId: u.id,
        siblingIds: [g1.id, g2.id],
        generationId: first.body.generation.id,
      });
    });

    it('a regenerate whose model fails leaves the earlier reply in place and readable', async () => {
      const r = await createRoom(t.http, alice, 'Failing regenerate');
      const u = await post(r.id, { content: 'question' });
      const first = await generate(r.id, {}).expect(202);
      await ended(first.body.generation.id);
      const g1 = first.body.assistantMessage.id as string;
      const before = (await all(r.id)).find((m) => m.id === g1)!;
      expect(before).toMatchObject({ content: 'Hello, world!', status: 'complete' });

      t.fake.enqueue({ status: 500 });
      const again = await generate(r.id, { parentId: u.id }).expect(202);
      const g2 = again.body.assistantMessage.id as string;
      const final = await ended(again.body.generation.id);
      expect(final).toMatchObject({ status: 'failed', error: { code: 'upstream_error' } });

      const everything = await all(r.id);
      expect(ids(everything)).toEqual([u.id, g1, g2]);
      expect(everything[1]).toEqual({ ...before, siblingIds: [g1, g2] });
      expect(everything[2]).toMatchObject({ status: 'failed', parentId: u.id });
      // The failed reply is the active one (the contract: active while it streams and after).
      expect((await room(r.id)).activeMessageId).toBe(g2);
      // The earlier reply is one switch away, unchanged.
      const back = await activate(r.id, g1);
      expect(ids(back.messages)).toEqual([u.id, g1]);
      expect(back.messages[1]).toEqual(everything[1]);
    });

    it('parentId of a generation: another room’s message is 400; no content and null parent is 400', async () => {
      const r = await createRoom(t.http, alice);
      await post(r.id, { content: 'here' });
      const elsewhere = await createRoom(t.http, alice);
      const foreign = await post(elsewhere.id, { content: 'there' });
      const asked = t.fake.streamed().length;
      expectErrorBody(await generate(r.id, { parentId: foreign.id }), 400);
      expectErrorBody(await generate(r.id, { parentId: MISSING }), 400);
      expectErrorBody(await generate(r.id, { parentId: 'not-a-uuid' }), 400);
      expectErrorBody(await generate(r.id, { parentId: null }), 400);
      expectErrorBody(await generate(r.id, { content: 'x', parentId: foreign.id }), 400);
      expect(t.fake.streamed().length).toBe(asked);
      expect(await all(r.id)).toHaveLength(1);
      expect(await all(elsewhere.id)).toHaveLength(1);
    });

    it('with content and a parentId, the user message goes under that parent and the reply under it', async () => {
      const r = await createRoom(t.http, alice, 'Generate under');
      const root = await post(r.id, { content: 'root' });
      await post(r.id, { content: 'answer', role: 'assistant' });
      const res = await generate(r.id, { content: 'edited question', parentId: root.id }).expect(
        202,
      );
      expect(res.body.userMessage).toMatchObject({ parentId: root.id, content: 'edited question' });
      expect(res.body.assistantMessage).toMatchObject({ parentId: res.body.userMessage.id });
      await ended(res.body.generation.id);
      const shown = await room(r.id);
      expect(ids(shown.messages)).toEqual([
        root.id,
        res.body.userMessage.id,
        res.body.assistantMessage.id,
      ]);
    });
  });

  describe('switching branches (PUT active-message)', () => {
    it('goes down to the last-active leaf below the message, not the newest; and back', async () => {
      const r = await createRoom(t.http, alice, 'Switch');
      const root = await post(r.id, { content: 'root' });
      const a1 = await post(r.id, { content: 'answer one', role: 'assistant' });
      const b1 = await post(r.id, { content: 'b1' });
      const b2 = await post(r.id, { content: 'b2 (newest under a1)', parentId: a1.id });
      // b1 becomes active after b2 was written: below a1, b1 is the last-active leaf.
      const onB1 = await activate(r.id, b1.id);
      expect(onB1.activeMessageId).toBe(b1.id);
      expect(ids(onB1.messages)).toEqual([root.id, a1.id, b1.id]);
      const a2 = await post(r.id, { content: 'answer two', role: 'assistant', parentId: root.id });
      expect((await room(r.id)).activeMessageId).toBe(a2.id);

      // To the old branch: through a1 down to b1 (last active), not b2 (newest).
      const res = await t.http
        .put(`/api/chat-rooms/${r.id}/active-message`)
        .set(alice.auth)
        .send({ messageId: a1.id })
        .expect(200);
      const shown = res.body as TreeRoom;
      expect(shown.activeMessageId).toBe(b1.id);
      expect(ids(shown.messages)).toEqual([root.id, a1.id, b1.id]);
      expect(res.headers.etag).toBe(`"${shown.version}"`);
      // The answer is the room exactly as GET shows it.
      expect(await room(r.id)).toEqual(shown);

      // And back: a2 is a leaf.
      expect(ids((await activate(r.id, a2.id)).messages)).toEqual([root.id, a2.id]);
      // From the root: the last-active leaf of the room is a2.
      expect((await activate(r.id, root.id)).activeMessageId).toBe(a2.id);
      // b2, then the root again: now b2 is the last-active leaf.
      expect(ids((await activate(r.id, b2.id)).messages)).toEqual([root.id, a1.id, b2.id]);
      expect((await activate(r.id, a2.id)).activeMessageId).toBe(a2.id);
      expect((await activate(r.id, a1.id)).activeMessageId).toBe(b2.id);
      expect((await activate(r.id, root.id)).activeMessageId).toBe(b2.id);
      // Switching to the active message itself changes nothing of the path.
      expect((await activate(r.id, b2.id)).activeMessageId).toBe(b2.id);
      // Every branch is still there.
      expect(ids(await all(r.id))).toEqual([root.id, a1.id, b1.id, b2.id, a2.id]);
    });

    it('is 404 for a message of another room or no message, 400 for a bad body; nothing changes', async () => {
      const r = await createRoom(t.http, alice);
      await post(r.id, { content: 'one' });
      const other = await createRoom(t.http, alice);
      const foreign = await post(other.id, { content: 'elsewhere' });
      const before = await room(r.id);
      const put = (body: unknown) =>
        t.http
          .put(`/api/chat-rooms/${r.id}/active-message`)
          .set(alice.auth)
          .send(body as object);
      expectErrorBody(await put({ messageId: foreign.id }), 404);
      expectErrorBody(await put({ messageId: MISSING }), 404);
      expectErrorBody(await put({ messageId: 'not-a-uuid' }), 400);
      expectErrorBody(await put({ messageId: null }), 400);
      expectErrorBody(await put({}), 400);
      expectErrorBody(await put({ messageId: foreign.id, extra: 1 }), 400);
      expect(await room(r.id)).toEqual(before);
      expect((await room(other.id)).activeMessageId).toBe(foreign.id);
    });
  });

  describe('deleting a message (and its subtree)', () => {
    it('a middle message: its subtree and generations are gone, the parent’s last-active leaf becomes active', async () => {
      const r = await createRoom(t.http, alice, 'Delete middle');
      const root = await post(r.id, { content: 'root' });
      const a = await post(r.id, { content: 'a', role: 'assistant' });
      const u1 = await post(r.id, { content: 'u1' });
      const b1 = await post(r.id, { content: 'b1', role: 'assistant' });
      const c1 = await post(r.id, { content: 'c1' });
      const u2 = await post(r.id, { content: 'u2', parentId: a.id });
      const gen = await generate(r.id, { parentId: u2.id }).expect(202);
      await ended(gen.body.generation.id);
      const b2 = gen.body.assistantMessage.id as string;
      // u1's branch was active before; now b2's is.
      await activate(r.id, c1.id);
      await activate(r.id, b2);
      expect((await summaryOf(r.id)).messageCount).toBe(7);

      // u2 and b2 go (2 messages); b2 was active: back to the leaf below a active last, c1.
      await removeMessage(r.id, u2.id).expect(204);
      let shown = await room(r.id);
      expect(shown.activeMessageId).toBe(c1.id);
      expect(ids(shown.messages)).toEqual([root.id, a.id, u1.id, b1.id, c1.id]);
      expect(shown.messages[2].siblingIds).toEqual([u1.id]);
      expect(ids(await all(r.id))).toEqual([root.id, a.id, u1.id, b1.id, c1.id]);
      expect((await summaryOf(r.id)).messageCount).toBe(5);
      expectErrorBody(
        await t.http.get(`/api/generations/${gen.body.generation.id}`).set(alice.auth),
        404,
      );
      const { rows } = await t.db.query('SELECT id FROM messages WHERE id = ANY($1::uuid[])', [
        [u2.id, b2],
      ]);
      expect(rows).toEqual([]);

      // A message off the active path: the active message stays.
      const side = await post(r.id, { content: 'side', parentId: root.id });
      await activate(r.id, c1.id);
      await removeMessage(r.id, side.id).expect(204);
      shown = await room(r.id);
      expect(shown.activeMessageId).toBe(c1.id);
      expect((await summaryOf(r.id)).messageCount).toBe(5);

      // b1 and c1 go; u1 has no other child: u1 itself becomes active.
      await removeMessage(r.id, b1.id).expect(204);
      shown = await room(r.id);
      expect(shown.activeMessageId).toBe(u1.id);
      expect(ids(shown.messages)).toEqual([root.id, a.id, u1.id]);
      const summary = await summaryOf(r.id);
      expect(summary.messageCount).toBe(3);
      expect(summary.lastMessage).toEqual(shown.messages[2]);

      // Gone is gone.
      expectErrorBody(await removeMessage(r.id, b1.id), 404);
      expectErrorBody(await removeMessage(r.id, c1.id), 404);
    });

    it('a first message: the room’s last-active remaining leaf becomes active; null when empty', async () => {
      const r = await createRoom(t.http, alice, 'Delete roots');
      const r1 = await post(r.id, { content: 'root 1' });
      const x1 = await post(r.id, { content: 'x1', role: 'assistant' });
      const r2 = await post(r.id, { content: 'root 2', parentId: null });
      const x2 = await post(r.id, { content: 'x2', role: 'assistant' });
      const r3 = await post(r.id, { content: 'root 3', parentId: null });
      await post(r.id, { content: 'x3', role: 'assistant' });
      // Last active, oldest first: x2, x1, x3 (x2 is newer than x1 but was active earlier).
      await activate(r.id, x1.id);
      await activate(r.id, r3.id);
      expect((await summaryOf(r.id)).messageCount).toBe(6);

      await removeMessage(r.id, r3.id).expect(204);
      let shown = await room(r.id);
      expect(shown.activeMessageId).toBe(x1.id);
      expect(ids(shown.messages)).toEqual([r1.id, x1.id]);
      expect(shown.messages[0].siblingIds).toEqual([r1.id, r2.id]);
      expect((await summaryOf(r.id)).messageCount).toBe(4);

      await removeMessage(r.id, r1.id).expect(204);
      shown = await room(r.id);
      expect(shown.activeMessageId).toBe(x2.id);
      expect(ids(shown.messages)).toEqual([r2.id, x2.id]);
      expect(shown.messages[0].siblingIds).toEqual([r2.id]);

      await removeMessage(r.id, r2.id).expect(204);
      shown = await room(r.id);
      expect(shown.activeMessageId).toBeNull();
      expect(shown.messages).toEqual([]);
      expect(await all(r.id)).toEqual([]);
      const summary = await summaryOf(r.id);
      expect(summary).toMatchObject({ messageCount: 0, lastMessage: null, activeMessageId: null });
      // An empty room again: the next post is a root.
      const fresh = await post(r.id, { content: 'again' });
      expect(fresh.parentId).toBeNull();
    });

    it('is 409 while a generation below is streaming (and changes nothing); 204 elsewhere and after', async () => {
      const r = await createRoom(t.http, alice, 'Delete while streaming');
      const root = await post(r.id, { content: 'root' });
      const u = await post(r.id, { content: 'question' });
      const side = await post(r.id, { content: 'side', parentId: null });
      // Streams until cancelled: one token, then silence.
      t.fake.enqueue({ tokens: ['partial '], silentAfter: 1 });
      const res = await generate(r.id, { parentId: u.id }).expect(202);
      const reply = res.body.assistantMessage.id as string;
      const generationId = res.body.generation.id as string;
      // The new reply is the active message while it streams.
      const streaming = await room(r.id);
      expect(streaming.activeMessageId).toBe(reply);
      expect(ids(streaming.messages)).toEqual([root.id, u.id, reply]);
      // The text streamed so far stored first, so that what "nothing changed" compares is still.
      await eventually(
        async () =>
          (
            await t.db.query<{ content: string }>('SELECT content FROM messages WHERE id = $1', [
              reply,
            ])
          ).rows[0].content === 'partial ',
        { message: 'the first token stored' },
      );
      const everything = await all(r.id);

      for (const id of [reply, u.id, root.id]) {
        expectErrorBody(await removeMessage(r.id, id), 409);
      }
      expect(await all(r.id)).toEqual(everything);
      expect((await room(r.id)).version).toBe(streaming.version);
      expect((await generation(generationId)).status).toBe('streaming');

      // Outside the streaming subtree: allowed.
      await removeMessage(r.id, side.id).expect(204);
      expect(ids(await all(r.id))).toEqual([root.id, u.id, reply]);

      await t.http.post(`/api/generations/${generationId}/cancel`).set(alice.auth).expect(200);
      await ended(generationId);
      await removeMessage(r.id, u.id).expect(204);
      const after = await room(r.id);
      expect(after.activeMessageId).toBe(root.id);
      expect(ids(await all(r.id))).toEqual([root.id]);
    });

    it('is 404 for a message of another room or another user, 400 for a malformed id', async () => {
      const r = await createRoom(t.http, alice);
      const mine = await post(r.id, { content: 'mine' });
      const other = await createRoom(t.http, alice);
      const foreign = await post(other.id, { content: 'other room' });
      const bobs = await createRoom(t.http, bob);
      const bobsMessage = await postInTree(t.http, bob, bobs.id, { content: 'bob' });
      expectErrorBody(await removeMessage(r.id, foreign.id), 404);
      expectErrorBody(await removeMessage(r.id, bobsMessage.id), 404);
      expectErrorBody(await removeMessage(r.id, MISSING), 404);
      expectErrorBody(await removeMessage(bobs.id, bobsMessage.id), 404);
      expectErrorBody(await removeMessage(r.id, 'not-a-uuid'), 400);
      expect(ids(await all(r.id))).toEqual([mine.id]);
      expect(ids(await all(other.id))).toEqual([foreign.id]);
      expect(ids(await all(bobs.id, bob))).toEqual([bobsMessage.id]);
    });
  });

  describe('forking', () => {
    it('copies the path root..message into a new room: new ids, the rest kept; the source unchanged', async () => {
      const source = await newRoom({
        title: 'Source',
        model: 'other-model',
        systemPrompt: 'Be kind.',
      });
      const first = await post(source.id, { content: 'first' });
      const gen = await generate(source.id, {}).expect(202);
      await ended(gen.body.generation.id);
      const second = await post(source.id, { content: 'second' });
      const reply = gen.body.assistantMessage.id as string;
      // A newer branch is active: the fork copies the path to `second`, which is not on it.
      await post(source.id, { content: 'alternative', parentId: reply });
      const sourceBefore = await room(source.id);
      const allBefore = await all(source.id);
      const roomsBefore = await roomsOf(alice);

      const res = await fork(source.id, { messageId: second.id }).expect(201);
      const copy = res.body as TreeRoom;
      expect(res.headers.etag).toBe(`"${copy.version}"`);
      expect(copy).toEqual({
        id: expect.stringMatching(UUID),
        title: 'Source',
        ownerId: alice.id,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        model: 'other-model',
        systemPrompt: 'Be kind.',
        version: expect.any(Number),
        activeMessageId: copy.messages[2].id,
        messages: expect.any(Array),
        hasMoreMessages: false,
      });
      expect(copy.id).not.toBe(source.id);
      const originals = allBefore.filter((m) => [first.id, reply, second.id].includes(m.id));
      expect(copy.messages).toHaveLength(3);
      copy.messages.forEach((m, i) => {
        expect(m).toEqual({
          ...originals[i],
          id: expect.stringMatching(UUID),
          chatRoomId: copy.id,
          generationId: null,
          parentId: i === 0 ? null : copy.messages[i - 1].id,
          siblingIds: [m.id],
        });
        expect(allBefore.map((o) => o.id)).not.toContain(m.id);
      });
      expect(copy.messages[1]).toMatchObject({ role: 'assistant', model: 'other-model' });
      expect(await room(copy.id)).toEqual(copy);
      expect(await all(copy.id)).toEqual(copy.messages);
      expect(await summaryOf(copy.id)).toMatchObject({ messageCount: 3 });
      expect(await roomsOf(alice)).toBe(roomsBefore + 1);

      // The source, its version included, is as it was.
      expect(await room(source.id)).toEqual(sourceBefore);
      expect(await all(source.id)).toEqual(allBefore);
    });

    it('takes a title (the room-title rules) or keeps the source’s, "New chat" included', async () => {
      const source = await createRoom(t.http, alice);
      const m = await post(source.id, { content: 'only' });
      expect((await fork(source.id, { messageId: m.id }).expect(201)).body.title).toBe('New chat');
      expect(
        (await fork(source.id, { messageId: m.id, title: '  Copy  ' }).expect(201)).body.title,
      ).toBe('Copy');
      const before = await roomsOf(alice);
      for (const title of ['', '   ', 'x'.repeat(201), 7]) {
        expectErrorBody(await fork(source.id, { messageId: m.id, title }), 400);
      }
      expect(await roomsOf(alice)).toBe(before);
    });

    it('is 404 for a message of another room, another user’s room or no message; 400 for a bad body', async () => {
      const source = await createRoom(t.http, alice);
      const m = await post(source.id, { content: 'mine' });
      const other = await createRoom(t.http, alice);
      const foreign = await post(other.id, { content: 'other room' });
      const before = await roomsOf(alice);
      const bobsBefore = await roomsOf(bob);
      expectErrorBody(await fork(source.id, { messageId: foreign.id }), 404);
      expectErrorBody(await fork(source.id, { messageId: MISSING }), 404);
      expectErrorBody(await fork(source.id, { messageId: m.id }, bob), 404);
      expectErrorBody(await fork(MISSING, { messageId: m.id }), 404);
      expectErrorBody(await fork(source.id, { messageId: 'not-a-uuid' }), 400);
      expectErrorBody(await fork(source.id, {}), 400);
      expectErrorBody(await fork(source.id, { messageId: m.id, parentId: null }), 400);
      expectErrorBody(await fork('not-a-uuid', { messageId: m.id }), 400);
      expect(await roomsOf(alice)).toBe(before);
      expect(await roomsOf(bob)).toBe(bobsBefore);
    });

    it('copies a message still streaming with its text so far, as stopped', async () => {
      const source = await createRoom(t.http, alice, 'Streaming source');
      await post(source.id, { content: 'question' });
      t.fake.enqueue({ tokens: ['partial '], silentAfter: 1 });
      const res = await generate(source.id, {}).expect(202);
      const generationId = res.body.generation.id as string;
      // Stored, not only streamed (the generation read answers the runner's memory).
      await eventually(
        async () =>
          (
            await t.db.query<{ content: string }>('SELECT content FROM messages WHERE id = $1', [
              res.body.assistantMessage.id,
            ])
          ).rows[0].content === 'partial ',
        { message: 'the first token stored' },
      );
      expect((await generation(generationId)).status).toBe('streaming');
      const copy = (await fork(source.id, { messageId: res.body.assistantMessage.id }).expect(201))
        .body as TreeRoom;
      expect(copy.messages[1]).toMatchObject({
        role: 'assistant',
        content: 'partial ',
        status: 'stopped',
        model: 'fake-model',
        generationId: null,
      });
      // The source's reply goes on streaming.
      expect((await generation(generationId)).status).toBe('streaming');
      await t.http.post(`/api/generations/${generationId}/cancel`).set(alice.auth).expect(200);
      await ended(generationId);
    });

    it('accepts an Idempotency-Key: the same answer again, one room; another body is 422', async () => {
      const source = await createRoom(t.http, alice);
      const a = await post(source.id, { content: 'a' });
      const b = await post(source.id, { content: 'b' });
      const key = randomUUID();
      const before = await roomsOf(alice);
      const keyed = (messageId: string) =>
        t.http
          .post(`/api/chat-rooms/${source.id}/fork`)
          .set(alice.auth)
          .set('Idempotency-Key', key)
          .send({ messageId });
      const first = await keyed(b.id).expect(201);
      const again = await keyed(b.id).expect(201);
      expect(again.text).toBe(first.text);
      expect(await roomsOf(alice)).toBe(before + 1);
      expectErrorBody(await keyed(a.id), 422);
      expect(await roomsOf(alice)).toBe(before + 1);
    });
  });

  describe('GET messages?branch=all', () => {
    let r: { id: string };
    let everything: TreeMessage[];
    beforeAll(async () => {
      r = await createRoom(t.http, alice, 'Paging');
      const root = await post(r.id, { content: 'm0' });
      const a = await post(r.id, { content: 'm1', role: 'assistant' });
      await post(r.id, { content: 'm2' });
      await post(r.id, { content: 'm3', role: 'assistant' });
      await post(r.id, { content: 'm4', parentId: a.id });
      await post(r.id, { content: 'm5', parentId: null });
      await post(r.id, { content: 'm6', parentId: root.id });
      await post(r.id, { content: 'm7', role: 'assistant' });
      const res = await t.http
        .get(`/api/chat-rooms/${r.id}/messages?branch=all&limit=200`)
        .set(alice.auth)
        .expect(200);
      expect(res.body.hasMore).toBe(false);
      everything = res.body.items as TreeMessage[];
    });
    const page = (query: string) =>
      t.http.get(`/api/chat-rooms/${r.id}/messages?branch=all&${query}`).set(alice.auth);

    it('holds every message of every branch, in conversation order, each with parentId and siblingIds', () => {
      expect(everything.map((m) => m.content)).toEqual([
        'm0',
        'm1',
        'm2',
        'm3',
        'm4',
        'm5',
        'm6',
        'm7',
      ]);
      expect(everything).toEqual(inConversationOrder(everything));
      for (const m of everything) {
        expect(m.siblingIds).toEqual(
          everything.filter((s) => s.parentId === m.parentId).map((s) => s.id),
        );
        if (m.parentId !== null) expect(ids(everything)).toContain(m.parentId);
      }
    });

    it('pages with limit, before and after, saying when more exist', async () => {
      const newest = await page('limit=3').expect(200);
      expect(newest.body).toEqual({ items: everything.slice(5), hasMore: true });
      const older = await page(`limit=3&before=${everything[5].id}`).expect(200);
      expect(older.body).toEqual({ items: everything.slice(2, 5), hasMore: true });
      const oldest = await page(`limit=3&before=${everything[2].id}`).expect(200);
      expect(oldest.body).toEqual({ items: everything.slice(0, 2), hasMore: false });
      const newer = await page(`limit=3&after=${everything[1].id}`).expect(200);
      expect(newer.body).toEqual({ items: everything.slice(2, 5), hasMore: true });
      const last = await page(`limit=3&after=${everything[4].id}`).expect(200);
      expect(last.body).toEqual({ items: everything.slice(5), hasMore: false });
      const none = await page(`after=${everything[7].id}`).expect(200);
      expect(none.body).toEqual({ items: [], hasMore: false });
      // Walking back two at a time gives all of it, nothing twice.
      expect(await allMessages(t.http, alice, r.id, 2)).toEqual(everything);
      // Walking forward too.
      const forward = [everything[0]];
      for (;;) {
        const res = await page(`limit=2&after=${forward.at(-1)!.id}`).expect(200);
        forward.push(...(res.body.items as TreeMessage[]));
        if (!res.body.hasMore) break;
      }
      expect(forward).toEqual(everything);
    });

    it.each([
      ['branch=active', 'branch=active'],
      ['branch=ALL', 'branch=ALL'],
      ['an empty branch', 'branch='],
      ['two branch values', 'branch=all&branch=all'],
    ])('is 400 for %s', async (_case, query) => {
      expectErrorBody(
        await t.http.get(`/api/chat-rooms/${r.id}/messages?${query}`).set(alice.auth),
        400,
      );
    });

    it('is 400 for a cursor of another room and for both cursors', async () => {
      const other = await createRoom(t.http, alice);
      const foreign = await post(other.id, { content: 'x' });
      expectErrorBody(await page(`before=${foreign.id}`), 400);
      expectErrorBody(await page(`before=${everything[3].id}&after=${everything[1].id}`), 400);
    });
  });

  describe('parentId when posting', () => {
    it.each([
      ['a message of another room', 'foreign'],
      ['a message of another user', 'bobs'],
      ['an id that is no message', MISSING],
      ['a malformed id', 'not-a-uuid'],
      ['a number', 5],
      ['an empty string', ''],
      ['an array', ['x']],
    ])('is 400 for %s, and nothing changes', async (_case, parent) => {
      const r = await createRoom(t.http, alice);
      await post(r.id, { content: 'existing' });
      const other = await createRoom(t.http, alice);
      const foreign = await post(other.id, { content: 'elsewhere' });
      const bobsRoom = await createRoom(t.http, bob);
      const bobs = await postInTree(t.http, bob, bobsRoom.id, { content: 'bob' });
      const parentId = parent === 'foreign' ? foreign.id : parent === 'bobs' ? bobs.id : parent;
      const before = await room(r.id);
      expectErrorBody(
        await t.http
          .post(`/api/chat-rooms/${r.id}/messages`)
          .set(alice.auth)
          .send({ content: 'child', parentId }),
        400,
      );
      expect(await room(r.id)).toEqual(before);
      expect(await all(r.id)).toHaveLength(1);
    });
  });

  it('a v2 client that never sends parentId gets exactly one line', async () => {
    const r = await createRoom(t.http, alice, 'v2 client');
    const posted: TreeMessage[] = [];
    for (const [content, role] of [
      ['one', 'user'],
      ['two', 'assistant'],
      ['three', 'system'],
      ['four', 'user'],
    ]) {
      posted.push(await post(r.id, { content, role }));
    }
    const gen = await generate(r.id, { content: 'five' }).expect(202);
    await ended(gen.body.generation.id);
    const more = await generate(r.id, {}).expect(202);
    await ended(more.body.generation.id);
    posted.push(gen.body.userMessage, gen.body.assistantMessage, more.body.assistantMessage);

    const shown = await room(r.id);
    expect(ids(shown.messages)).toEqual(ids(posted));
    expect(shown.activeMessageId).toBe(posted.at(-1)!.id);
    shown.messages.forEach((m, i) => {
      expect(m.parentId).toBe(i === 0 ? null : posted[i - 1].id);
      expect(m.siblingIds).toEqual([m.id]);
    });
    expect(await all(r.id)).toEqual(shown.messages);
    // The v2 pages read the same line.
    const page = await t.http.get(`/api/chat-rooms/${r.id}/messages`).set(alice.auth).expect(200);
    expect(page.body).toEqual({ items: shown.messages, hasMore: false });
  });

  it('a cursor off the active path pages along its own path', async () => {
    const r = await createRoom(t.http, alice, 'Cursors');
    const root = await post(r.id, { content: 'root' });
    const a = await post(r.id, { content: 'a', role: 'assistant' });
    const u1 = await post(r.id, { content: 'u1' });
    const b1 = await post(r.id, { content: 'b1', role: 'assistant' });
    const c1 = await post(r.id, { content: 'c1' });
    const c1b = await post(r.id, { content: 'c1b', parentId: b1.id });
    await activate(r.id, c1.id); // below b1, c1 is the last active (c1b is newer)
    const u2 = await post(r.id, { content: 'u2', parentId: a.id });
    const b2 = await post(r.id, { content: 'b2', role: 'assistant' });
    const c2 = await post(r.id, { content: 'c2' });
    const page = (query: string) =>
      t.http.get(`/api/chat-rooms/${r.id}/messages?${query}`).set(alice.auth).expect(200);

    // The active path without a cursor.
    expect((await page('limit=2')).body).toEqual({
      items: (await room(r.id)).messages.slice(-2),
      hasMore: true,
    });
    expect(ids((await page('')).body.items)).toEqual([root.id, a.id, u2.id, b2.id, c2.id]);

    // before an off-path message: its ancestors.
    expect(ids((await page(`before=${c1b.id}`)).body.items)).toEqual([root.id, a.id, u1.id, b1.id]);
    const before = (await page(`before=${b1.id}&limit=2`)).body;
    expect([ids(before.items), before.hasMore]).toEqual([[a.id, u1.id], true]);
    // after an off-path message: down its last-active children.
    const after = (await page(`after=${u1.id}`)).body;
    expect([ids(after.items), after.hasMore]).toEqual([[b1.id, c1.id], false]);
    const short = (await page(`after=${u1.id}&limit=1`)).body;
    expect([ids(short.items), short.hasMore]).toEqual([[b1.id], true]);
    expect((await page(`after=${c1b.id}`)).body).toEqual({ items: [], hasMore: false });
    // A cursor on the active path pages the active path.
    expect(ids((await page(`after=${a.id}`)).body.items)).toEqual([u2.id, b2.id, c2.id]);
    // Reading changes nothing.
    expect((await room(r.id)).activeMessageId).toBe(c2.id);
  });

  it('search finds messages on every branch; each hit’s message has its parentId', async () => {
    const searcher = await registerUser(t.http);
    const r = await createRoom(t.http, searcher, 'Search');
    const root = await postInTree(t.http, searcher, r.id, { content: 'about quokkas' });
    const one = await postInTree(t.http, searcher, r.id, { content: 'QUOKKA first edit' });
    const two = await postInTree(t.http, searcher, r.id, {
      content: 'QUOKKA second edit',
      parentId: root.id,
    });
    const res = await t.http.get('/api/search?q=quokka%20edit').set(searcher.auth).expect(200);
    const hits = res.body.items as { message: Record<string, unknown> }[];
    expect(hits.map((h) => h.message.id)).toEqual([two.id, one.id]);
    for (const hit of hits) {
      expect(hit.message.parentId).toBe(root.id);
      expect(hit.message).not.toHaveProperty('siblingIds');
    }
    // A client opens a hit on the branch that is not shown.
    const opened = await switchBranch(t.http, searcher, r.id, one.id);
    expect(ids(opened.messages)).toEqual([root.id, one.id]);
  });

  it('the same Idempotency-Key with another parentId is 422', async () => {
    const r = await createRoom(t.http, alice);
    const root = await post(r.id, { content: 'root' });
    const a = await post(r.id, { content: 'a', role: 'assistant' });
    const key = randomUUID();
    const keyed = (body: object) =>
      t.http
        .post(`/api/chat-rooms/${r.id}/messages`)
        .set(alice.auth)
        .set('Idempotency-Key', key)
        .send(body);
    const first = await keyed({ content: 'same', parentId: a.id }).expect(201);
    expect((await keyed({ content: 'same', parentId: a.id }).expect(201)).text).toBe(first.text);
    expectErrorBody(await keyed({ content: 'same', parentId: root.id }), 422);
    expectErrorBody(await keyed({ content: 'same', parentId: null }), 422);
    expectErrorBody(await keyed({ content: 'same' }), 422);
    expect(ids(await all(r.id))).toEqual([root.id, a.id, first.body.id]);

    // Generations too.
    const genKey = randomUUID();
    const keyedGeneration = (body: object) =>
      t.http
        .post(`/api/chat-rooms/${r.id}/generations`)
        .set(alice.auth)
        .set('Idempotency-Key', genKey)
        .send(body);
    const started = await keyedGeneration({ parentId: root.id }).expect(202);
    await ended(started.body.generation.id);
    expectErrorBody(await keyedGeneration({ parentId: a.id }), 422);
    expect((await all(r.id)).length).toBe(4);
  });

  describe('every new route', () => {
    let r: { id: string };
    let m: TreeMessage;
    beforeAll(async () => {
      r = await createRoom(t.http, alice, 'Private tree');
      m = await post(r.id, { content: 'secret' });
    });
    type Route = readonly [string, string, (room: string, message: string) => string];
    const routes: Route[] = [
      ['PUT active-message', 'PUT', (room) => `/api/chat-rooms/${room}/active-message`],
      ['DELETE a message', 'DELETE', (room, msg) => `/api/chat-rooms/${room}/messages/${msg}`],
      ['POST fork', 'POST', (room) => `/api/chat-rooms/${room}/fork`],
      ['GET branch=all', 'GET', (room) => `/api/chat-rooms/${room}/messages?branch=all`],
    ];
    const send = (method: string, url: string) => {
      const req = t.http[method.toLowerCase() as 'get' | 'put' | 'delete' | 'post'](url);
      return method === 'PUT' || method === 'POST' ? req.send({ messageId: m.id }) : req;
    };

    it.each(routes)('%s is 401 without a token', async (_name, method, url) => {
      expectErrorBody(await send(method, url(r.id, m.id)), 401);
    });

    it.each(routes)(
      '%s is 404 for another user’s room, like a room that does not exist',
      async (_name, method, url) => {
        const before = await all(r.id);
        const res = await send(method, url(r.id, m.id)).set(bob.auth);
        expectErrorBody(res, 404);
        const missing = await send(method, url(MISSING, m.id)).set(bob.auth);
        expect(missing.body).toEqual(res.body);
        expect(await all(r.id)).toEqual(before);
      },
    );

    it.each(routes)('%s is 400 for a malformed room id', async (_name, method, url) => {
      expectErrorBody(await send(method, url('not-a-uuid', m.id)).set(alice.auth), 400);
    });
  });
});
