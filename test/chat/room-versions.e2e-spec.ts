import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'supertest';
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
import { TEST_JWT_SECRET } from '../helpers/app';
import { AssistantTestApp, startAssistantApp } from '../helpers/assistant';
import { createTestDatabase } from '../helpers/database';
import { eventually } from '../helpers/eventually';
import type { Script } from '../helpers/fake-model';
import { expectErrorBody } from '../helpers/expect-error';
import { freePort } from '../helpers/net';
import {
  Answer,
  Child,
  destroyAgent,
  fetch,
  startServer,
  waitForHealth,
} from '../helpers/server-process';

const MISSING = '00000000-0000-4000-8000-000000000000';
const ids = (messages: { id: string }[]) => messages.map((m) => m.id);

jest.setTimeout(60_000);

/**
 * Room versions (v3): every change of a room's structure or settings bumps `version` by one,
 * answers that carry one room send `ETag: "<version>"`, and every room write honours
 * `If-Match` (RFC 9110 §13.1.1, strong comparison): a stale one is 412 and changes nothing, so
 * of two tabs that both hold version 7, exactly one write applies.
 */
describe('room versions and If-Match (e2e)', () => {
  let t: AssistantTestApp;
  let alice: RegisteredUser;
  let bob: RegisteredUser;

  beforeAll(async () => {
    // Auto-titles on, to count the rename; rooms other than that test's carry a title.
    t = await startAssistantApp({ LLM_AUTO_TITLE: 'true' });
    alice = await registerUser(t.http);
    bob = await registerUser(t.http);
  });
  afterAll(() => t.close());

  const post = (
    roomId: string,
    body: { content: string; role?: string; parentId?: string | null },
  ) => postInTree(t.http, alice, roomId, body);
  /** The room's version, checked against its ETag. */
  const versionOf = async (roomId: string) => {
    const res = await t.http.get(`/api/chat-rooms/${roomId}`).set(alice.auth).expect(200);
    expect(res.headers.etag).toBe(`"${res.body.version}"`);
    return res.body.version as number;
  };
  const summaryOf = async (roomId: string, who = alice) => {
    const res = await t.http.get('/api/chat-rooms?limit=100').set(who.auth).expect(200);
    return (res.body.items as Record<string, unknown>[]).find((r) => r.id === roomId);
  };
  const generation = async (id: string) =>
    (await t.http.get(`/api/generations/${id}`).set(alice.auth).expect(200)).body as {
      status: string;
      content: string;
    };
  const ended = (id: string) =>
    eventually(
      async () => {
        const g = await generation(id);
        return g.status !== 'streaming' && g;
      },
      { message: `generation ${id} ended` },
    );
  /** A 202 started a generation: let it end before anything else runs. */
  const settle = async (res: { status: number; body: { generation?: { id: string } } }) => {
    if (res.status === 202) await ended(res.body.generation!.id);
  };
  /** Everything a client can read of a room: GET, all branches, its summary. */
  const observe = async (roomId: string) => {
    const res = await t.http.get(`/api/chat-rooms/${roomId}`).set(alice.auth);
    if (res.status === 404) return { status: 404 };
    return {
      status: res.status,
      etag: res.headers.etag,
      room: res.body as TreeRoom,
      all: await allMessages(t.http, alice, roomId),
      summary: await summaryOf(roomId),
    };
  };

  describe('version, activeMessageId and ETag', () => {
    it('a new room is version 1 with no active message, on every answer that carries it', async () => {
      const created = await t.http
        .post('/api/chat-rooms')
        .set(alice.auth)
        .send({ title: 'Versions' })
        .expect(201);
      expect(created.body).toMatchObject({ version: 1, activeMessageId: null, messages: [] });
      expect(created.headers.etag).toBe('"1"');
      const id = created.body.id as string;
      const got = await t.http.get(`/api/chat-rooms/${id}`).set(alice.auth).expect(200);
      expect(got.headers.etag).toBe('"1"');
      expect(got.body).toEqual(created.body);
      // An SPA on another origin can read it, to send it back as If-Match.
      const crossOrigin = await t.http
        .get(`/api/chat-rooms/${id}`)
        .set(alice.auth)
        .set('Origin', 'http://spa.example')
        .expect(200);
      expect(crossOrigin.headers['access-control-expose-headers']?.split(/,\s*/)).toContain('etag');
      expect(await summaryOf(id)).toMatchObject({ version: 1, activeMessageId: null });

      const m = await post(id, { content: 'hello' });
      const after = await getRoom(t.http, alice, id);
      expect(after).toMatchObject({ version: 2, activeMessageId: m.id });
      expect(await summaryOf(id)).toMatchObject({ version: 2, activeMessageId: m.id });
      const withMessages = await t.http
        .get('/api/chat-rooms?include=messages&limit=100')
        .set(alice.auth)
        .expect(200);
      expect(
        (withMessages.body.items as Record<string, unknown>[]).find((r) => r.id === id),
      ).toMatchObject({ version: 2, activeMessageId: m.id });

      const patched = await t.http
        .patch(`/api/chat-rooms/${id}`)
        .set(alice.auth)
        .send({ title: 'Renamed' })
        .expect(200);
      expect(patched.body).toMatchObject({ version: 3, activeMessageId: m.id });
      expect(patched.headers.etag).toBe('"3"');

      const switched = await t.http
        .put(`/api/chat-rooms/${id}/active-message`)
        .set(alice.auth)
        .send({ messageId: m.id })
        .expect(200);
      expect(switched.body.version).toBe(4);
      expect(switched.headers.etag).toBe('"4"');

      const forked = await t.http
        .post(`/api/chat-rooms/${id}/fork`)
        .set(alice.auth)
        .send({ messageId: m.id })
        .expect(201);
      expect(forked.headers.etag).toBe(`"${forked.body.version}"`);
      expect(forked.body.activeMessageId).toBe(forked.body.messages[0].id);
      expect(await versionOf(forked.body.id)).toBe(forked.body.version);
      // Forking reads the source: its version stays.
      expect(await versionOf(id)).toBe(4);
    });

    it('every write bumps the version exactly once; reads and refused writes do not', async () => {
      const r = await createRoom(t.http, alice, 'Counting');
      let expected = 1;
      const expectVersion = async () => expect(await versionOf(r.id)).toBe(expected);
      await expectVersion();

      await post(r.id, { content: 'u1' });
      expected += 1;
      await expectVersion();
      const a1 = await post(r.id, { content: 'a1', role: 'assistant' });
      expected += 1;
      await expectVersion();
      const u2 = await post(r.id, { content: 'u2' });
      expected += 1;
      await expectVersion();
      const edit = await post(r.id, { content: 'u2, edited', parentId: a1.id });
      expected += 1;
      await expectVersion();

      let before = await getRoom(t.http, alice, r.id);
      await switchBranch(t.http, alice, r.id, u2.id);
      expected += 1;
      await expectVersion();
      let after = await getRoom(t.http, alice, r.id);
      expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));
      // Switching to the active message changes no path, and still counts.
      await switchBranch(t.http, alice, r.id, u2.id);
      expected += 1;
      await expectVersion();

      before = after;
      await t.http
        .delete(`/api/chat-rooms/${r.id}/messages/${edit.id}`)
        .set(alice.auth)
        .expect(204);
      expected += 1;
      await expectVersion();
      after = await getRoom(t.http, alice, r.id);
      expect(Date.parse(after.updatedAt)).toBeGreaterThan(Date.parse(before.updatedAt));

      for (const body of [
        { title: 'Counted' },
        { title: 'Counted' },
        { model: 'other-model' },
        { systemPrompt: 'Short answers.' },
        { title: 'All three', model: null, systemPrompt: null },
      ]) {
        await t.http.patch(`/api/chat-rooms/${r.id}`).set(alice.auth).send(body).expect(200);
        expected += 1;
        await expectVersion();
      }

      // Reads change nothing.
      await t.http.get(`/api/chat-rooms/${r.id}`).set(alice.auth).expect(200);
      await t.http.get(`/api/chat-rooms/${r.id}/messages?limit=1`).set(alice.auth).expect(200);
      await t.http.get(`/api/chat-rooms/${r.id}/messages?branch=all`).set(alice.auth).expect(200);
      await t.http.get('/api/chat-rooms?include=messages').set(alice.auth).expect(200);
      await t.http.get('/api/search?q=u2').set(alice.auth).expect(200);
      await expectVersion();

      // Refused writes change nothing.
      const refused = [
        t.http.post(`/api/chat-rooms/${r.id}/messages`).send({ content: '' }),
        t.http.post(`/api/chat-rooms/${r.id}/messages`).send({ content: 'x', parentId: MISSING }),
        t.http.put(`/api/chat-rooms/${r.id}/active-message`).send({ messageId: MISSING }),
        t.http.delete(`/api/chat-rooms/${r.id}/messages/${MISSING}`),
        t.http.patch(`/api/chat-rooms/${r.id}`).send({ title: '' }),
        t.http.post(`/api/chat-rooms/${r.id}/generations`).send({ content: 'x', model: 'nope' }),
      ];
      for (const request of refused) {
        const res = await request.set(alice.auth);
        expect([400, 404]).toContain(res.status);
      }
      await expectVersion();
    });

    it('a generation: +1 at its start (one for both messages), +1 at its end; streamed text alone changes nothing', async () => {
      const r = await createRoom(t.http, alice, 'Generations');
      const u = await post(r.id, { content: 'question' });
      let expected = 2;
      expect(await versionOf(r.id)).toBe(expected);
      const start = (body: object) =>
        t.http.post(`/api/chat-rooms/${r.id}/generations`).set(alice.auth).send(body).expect(202);

      // With content, held open after one token: the start counts once, the text not at all.
      for (const body of [{ content: 'with a user message' }, {}]) {
        t.fake.enqueue({ tokens: ['partial '], silentAfter: 1 });
        const res = await start(body);
        const id = res.body.generation.id as string;
        await eventually(async () => (await generation(id)).content === 'partial ', {
          message: 'the streamed text stored',
        });
        expected += 1;
        expect(await versionOf(r.id)).toBe(expected);
        expect((await generation(id)).status).toBe('streaming');
        // Its end (stopped) is one more.
        await t.http.post(`/api/generations/${id}/cancel`).set(alice.auth).expect(200);
        expected += 1;
        expect(await versionOf(r.id)).toBe(expected);
      }

      // complete, failed, and a regenerate: two each.
      const scripts: [object, Script, string][] = [
        [{ content: 'complete please' }, { tokens: ['fine'] }, 'complete'],
        [{}, { status: 500 }, 'failed'],
        [{ parentId: u.id }, { tokens: ['again'] }, 'complete'],
      ];
      for (const [body, script, status] of scripts) {
        t.fake.enqueue(script);
        const res = await start(body);
        expect((await ended(res.body.generation.id)).status).toBe(status);
        expected += 2;
        expect(await versionOf(r.id)).toBe(expected);
      }
    });

    it('the auto-title rename is stored with the end: one change, one more version', async () => {
      const r = await createRoom(t.http, alice); // "New chat"
      expect(await versionOf(r.id)).toBe(1);
      t.fake.title = 'Counted title';
      const res = await t.http
        .post(`/api/chat-rooms/${r.id}/generations`)
        .set(alice.auth)
        .send({ content: 'name this room' })
        .expect(202);
      await ended(res.body.generation.id);
      await eventually(async () => (await getRoom(t.http, alice, r.id)).title === 'Counted title', {
        message: 'the room renamed',
      });
      // Start, then the end with its rename (one statement: GenerationRunner asks for the title
      // before the end is stored).
      expect(await versionOf(r.id)).toBe(3);
    });
  });

  describe('If-Match on every room write', () => {
    interface Fixture {
      roomId: string;
      version: number;
      /** A message off the active path (its sibling `alt` is active). */
      target: string;
    }
    /** A room u1 → a1 → {u2, alt}, alt active. */
    const fixture = async (): Promise<Fixture> => {
      const r = await createRoom(t.http, alice, 'If-Match');
      await post(r.id, { content: 'u1' });
      const a1 = await post(r.id, { content: 'a1', role: 'assistant' });
      const u2 = await post(r.id, { content: 'u2' });
      await post(r.id, { content: 'alt', parentId: a1.id });
      return { roomId: r.id, version: await versionOf(r.id), target: u2.id };
    };

    interface Write {
      name: string;
      success: number;
      send(f: Fixture, roomId?: string): Test;
      /** The same request with a body (or id) the route refuses. */
      bad(f: Fixture): Test;
    }
    const writes: Write[] = [
      {
        name: 'PATCH room',
        success: 200,
        send: (f, id = f.roomId) =>
          t.http.patch(`/api/chat-rooms/${id}`).send({ title: 'Changed' }),
        bad: (f) => t.http.patch(`/api/chat-rooms/${f.roomId}`).send({ title: '' }),
      },
      {
        name: 'DELETE room',
        success: 204,
        send: (f, id = f.roomId) => t.http.delete(`/api/chat-rooms/${id}`),
        bad: () => t.http.delete('/api/chat-rooms/not-a-uuid'),
      },
      {
        name: 'POST messages',
        success: 201,
        send: (f, id = f.roomId) =>
          t.http.post(`/api/chat-rooms/${id}/messages`).send({ content: 'new' }),
        bad: (f) => t.http.post(`/api/chat-rooms/${f.roomId}/messages`).send({ content: ' ' }),
      },
      {
        name: 'POST generations',
        success: 202,
        send: (f, id = f.roomId) =>
          t.http.post(`/api/chat-rooms/${id}/generations`).send({ content: 'go' }),
        bad: (f) =>
          t.http.post(`/api/chat-rooms/${f.roomId}/generations`).send({ content: 'go', x: 1 }),
      },
      {
        name: 'PUT active-message',
        success: 200,
        send: (f, id = f.roomId) =>
          t.http.put(`/api/chat-rooms/${id}/active-message`).send({ messageId: f.target }),
        bad: (f) =>
          t.http.put(`/api/chat-rooms/${f.roomId}/active-message`).send({ messageId: 'x' }),
      },
      {
        name: 'DELETE message',
        success: 204,
        send: (f, id = f.roomId) => t.http.delete(`/api/chat-rooms/${id}/messages/${f.target}`),
        bad: (f) => t.http.delete(`/api/chat-rooms/${f.roomId}/messages/not-a-uuid`),
      },
    ];
    const byName = Object.fromEntries(writes.map((w) => [w.name, w]));
    const names = writes.map((w) => [w.name] as const);

    it.each(names)('%s: a stale, weak or unknown tag is 412 and changes nothing', async (name) => {
      const w = byName[name];
      const f = await fixture();
      const v = f.version;
      const before = await observe(f.roomId);
      const asked = t.fake.streamed().length;
      for (const tag of [
        `"${v - 1}"`,
        `"${v + 1}"`,
        `"${v - 1}", "${v + 1}"`,
        `W/"${v}"`,
        `"0${v}"`,
        '"abc"',
      ]) {
        const res = await w.send(f).set(alice.auth).set('If-Match', tag);
        expectErrorBody(res, 412);
        expect(res.body.error).toBe('Precondition Failed');
        expect(await observe(f.roomId)).toEqual(before);
      }
      expect(t.fake.streamed().length).toBe(asked);
    });

    it.each(names)(
      '%s: the current tag, *, or a list holding it applies the write',
      async (name) => {
        const w = byName[name];
        for (const tagOf of [
          (v: number) => `"${v}"`,
          () => '*',
          (v: number) => `"${v - 1}", "${v}", "${v + 5}"`,
          (v: number) => `W/"${v}", "${v}"`,
        ]) {
          const f = await fixture();
          const res = await w.send(f).set(alice.auth).set('If-Match', tagOf(f.version));
          expect(res.status).toBe(w.success);
          if (name === 'DELETE room') {
            expectErrorBody(await t.http.get(`/api/chat-rooms/${f.roomId}`).set(alice.auth), 404);
            continue;
          }
          // PATCH and PUT carry the room: its new version as ETag.
          if (name === 'PATCH room' || name === 'PUT active-message') {
            expect(res.headers.etag).toBe(`"${f.version + 1}"`);
          }
          await settle(res);
          // One write; a generation's end is one more.
          expect(await versionOf(f.roomId)).toBe(f.version + (res.status === 202 ? 2 : 1));
        }
      },
    );

    it.each(names)('%s: a malformed If-Match is 400 and changes nothing', async (name) => {
      const w = byName[name];
      const f = await fixture();
      const v = f.version;
      const before = await observe(f.roomId);
      for (const tag of [
        String(v),
        `"${v}`,
        `${v}"`,
        `W/${v}`,
        `W/"${v}`,
        `"${v}" "${v}"`,
        `*, "${v}"`,
        'garbage',
      ]) {
        const res = await w.send(f).set(alice.auth).set('If-Match', tag);
        expectErrorBody(res, 400);
        expect(await observe(f.roomId)).toEqual(before);
      }
    });

    it.each(names)(
      '%s: 400 before 404 before 412 (a bad body, an unknown or foreign room)',
      async (name) => {
        const w = byName[name];
        const f = await fixture();
        const before = await observe(f.roomId);
        const stale = `"${f.version + 3}"`;
        // An unknown room: 404 whatever the tag; a malformed tag is still 400.
        expectErrorBody(await w.send(f, MISSING).set(alice.auth).set('If-Match', '"1"'), 404);
        expectErrorBody(await w.send(f, MISSING).set(alice.auth).set('If-Match', stale), 404);
        expectErrorBody(await w.send(f, MISSING).set(alice.auth).set('If-Match', '1'), 400);
        // Another user's room: 404 with its current tag as with a stale one.
        for (const tag of [`"${f.version}"`, stale]) {
          expectErrorBody(await w.send(f).set(bob.auth).set('If-Match', tag), 404);
        }
        // A bad body (or id) with a stale tag: 400.
        expectErrorBody(await w.bad(f).set(alice.auth).set('If-Match', stale), 400);
        expect(await observe(f.roomId)).toEqual(before);
      },
    );

    it('412 comes before 409: a stale tag while a generation runs is 412, the current one 409', async () => {
      const f = await fixture();
      t.fake.enqueue({ tokens: ['partial '], silentAfter: 1 });
      const res = await t.http
        .post(`/api/chat-rooms/${f.roomId}/generations`)
        .set(alice.auth)
        .send({ parentId: f.target })
        .expect(202);
      const running = await versionOf(f.roomId);
      expect(running).toBe(f.version + 1);
      const generate = () =>
        t.http.post(`/api/chat-rooms/${f.roomId}/generations`).set(alice.auth).send({});
      const deleteTarget = () =>
        t.http.delete(`/api/chat-rooms/${f.roomId}/messages/${f.target}`).set(alice.auth);
      expectErrorBody(await generate().set('If-Match', `"${f.version}"`), 412);
      expectErrorBody(await generate().set('If-Match', `"${running}"`), 409);
      expectErrorBody(await deleteTarget().set('If-Match', `"${f.version}"`), 412);
      expectErrorBody(await deleteTarget().set('If-Match', `"${running}"`), 409);
      expect(await versionOf(f.roomId)).toBe(running);
      await t.http
        .post(`/api/generations/${res.body.generation.id}/cancel`)
        .set(alice.auth)
        .expect(200);
      await ended(res.body.generation.id);
    });

    it('without If-Match a write applies as in v2, whatever the version', async () => {
      const f = await fixture();
      await t.http
        .patch(`/api/chat-rooms/${f.roomId}`)
        .set(alice.auth)
        .send({ title: 'No precondition' })
        .expect(200);
      expect(await versionOf(f.roomId)).toBe(f.version + 1);
    });
  });

  describe('racing writers on one instance', () => {
    const N = 8;
    /** A room with a root and N replies to it (the last active). */
    const fan = async () => {
      const r = await createRoom(t.http, alice, 'Race');
      const root = await post(r.id, { content: 'root' });
      const children: TreeMessage[] = [];
      for (let i = 0; i < N; i++) {
        children.push(await post(r.id, { content: `child ${i}`, parentId: root.id }));
      }
      return { roomId: r.id, version: await versionOf(r.id), children };
    };
    type Race = readonly [string, (f: Awaited<ReturnType<typeof fan>>, i: number) => Test, number];
    const races: Race[] = [
      [
        'POST messages',
        (f, i) =>
          t.http.post(`/api/chat-rooms/${f.roomId}/messages`).send({ content: `race ${i}` }),
        201,
      ],
      [
        'PATCH room',
        (f, i) => t.http.patch(`/api/chat-rooms/${f.roomId}`).send({ title: `T${i}` }),
        200,
      ],
      [
        'PUT active-message',
        (f, i) =>
          t.http
            .put(`/api/chat-rooms/${f.roomId}/active-message`)
            .send({ messageId: f.children[i].id }),
        200,
      ],
      [
        'DELETE message',
        (f, i) => t.http.delete(`/api/chat-rooms/${f.roomId}/messages/${f.children[i].id}`),
        204,
      ],
      [
        'POST generations',
        (f, i) => t.http.post(`/api/chat-rooms/${f.roomId}/generations`).send({ content: `g${i}` }),
        202,
      ],
      [
        'mixed writes',
        (f, i) => {
          const kinds = races.filter(([name]) => name !== 'mixed writes');
          return kinds[i % kinds.length][1](f, i);
        },
        0,
      ],
    ];

    it.each(races)(
      '%s: N requests holding one version, exactly one applies, the rest are 412',
      async (name, send, success) => {
        const f = await fan();
        const before = await allMessages(t.http, alice, f.roomId);
        const answers = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            send(f, i).set(alice.auth).set('If-Match', `"${f.version}"`),
          ),
        );
        const applied = answers.filter((res) => res.status < 300);
        expect(applied).toHaveLength(1);
        if (success) expect(applied[0].status).toBe(success);
        for (const res of answers.filter((r) => r.status >= 300)) expectErrorBody(res, 412);
        await settle(applied[0]);
        expect(await versionOf(f.roomId)).toBe(f.version + (applied[0].status === 202 ? 2 : 1));
        const after = await allMessages(t.http, alice, f.roomId);
        const added = { 201: 1, 202: 2, 204: -1 }[applied[0].status] ?? 0;
        expect(after.length).toBe(before.length + added);
        if (name === 'PATCH room') {
          const title = (await getRoom(t.http, alice, f.roomId)).title;
          expect(answers.filter((res) => res.body.title === title)).toHaveLength(1);
        }
      },
    );

    it('DELETE room: N requests holding one version, one 204, the rest 412 or 404', async () => {
      const f = await fan();
      const answers = await Promise.all(
        Array.from({ length: N }, () =>
          t.http
            .delete(`/api/chat-rooms/${f.roomId}`)
            .set(alice.auth)
            .set('If-Match', `"${f.version}"`),
        ),
      );
      expect(answers.filter((res) => res.status === 204)).toHaveLength(1);
      for (const res of answers.filter((r) => r.status !== 204)) {
        expect([404, 412]).toContain(res.status);
        expectErrorBody(res, res.status);
      }
    });

    it('without If-Match, N concurrent writes all apply and the version grows by exactly N', async () => {
      const f = await fan();
      const posts = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          t.http
            .post(`/api/chat-rooms/${f.roomId}/messages`)
            .set(alice.auth)
            .send({ content: `free ${i}` }),
        ),
      );
      expect(posts.map((res) => res.status)).toEqual(Array(N).fill(201));
      expect(await versionOf(f.roomId)).toBe(f.version + N);
      const switches = await Promise.all(
        f.children.map((child) =>
          t.http
            .put(`/api/chat-rooms/${f.roomId}/active-message`)
            .set(alice.auth)
            .send({ messageId: child.id }),
        ),
      );
      expect(switches.map((res) => res.status)).toEqual(Array(N).fill(200));
      expect(await versionOf(f.roomId)).toBe(f.version + 2 * N);
      // Concurrent posts without a parent still make one line below what was active.
      const shown = await getRoom(t.http, alice, f.roomId);
      expect(
        shown.messages.every((m, i) => i === 0 || m.parentId === shown.messages[i - 1].id),
      ).toBe(true);
    });
  });
});

/**
 * Two real processes of the service (src/main.ts) on one database: a version is the
 * database's, so the same If-Match through both instances still lets exactly one write apply.
 */
describe('If-Match across two app processes on one database (e2e)', () => {
  let database: { url: string; drop(): Promise<void> };
  let dataDir: string;
  const servers: { base: string; child: Child }[] = [];
  let token: string;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'chat-versions-'));
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const child = startServer({
        NODE_ENV: 'test',
        PORT: String(port),
        DATABASE_URL: database.url,
        DATA_DIR: dataDir,
        JWT_SECRET: TEST_JWT_SECRET,
        AUTH_RATE_LIMIT: '1000',
        LOG_LEVEL: 'warn',
      });
      servers.push({ base: `http://127.0.0.1:${port}`, child });
    }
    await Promise.all(servers.map((s) => waitForHealth(s.base, s.child)));
    const registered = await fetch(`${servers[0].base}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: `versions-${randomUUID()}@example.com`,
        password: 'two tabs!',
      }),
    });
    expect(registered.status).toBe(201);
    token = registered.json<{ accessToken: string }>().accessToken;
  }, 120_000);

  afterAll(async () => {
    for (const server of servers) {
      if (server.child.process.exitCode === null) server.child.process.kill('SIGINT');
      await server.child.exited;
    }
    destroyAgent();
    await database.drop();
    await rm(dataDir, { recursive: true, force: true });
  }, 30_000);

  const call = (
    server: number,
    method: string,
    path: string,
    body?: object,
    ifMatch?: string,
  ): Promise<Answer> =>
    fetch(`${servers[server % 2].base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body && { 'content-type': 'application/json' }),
        ...(ifMatch && { 'if-match': ifMatch }),
      },
      body: body && JSON.stringify(body),
    });
  const roomOn = async (server: number, roomId: string) => {
    const res = await call(server, 'GET', `/api/chat-rooms/${roomId}`);
    expect(res.status).toBe(200);
    const room = res.json<TreeRoom>();
    expect(res.headers.etag).toBe(`"${room.version}"`);
    return room;
  };
  /** A room with a root and `n` replies to it, written through both instances. */
  const fan = async (n: number) => {
    const created = await call(0, 'POST', '/api/chat-rooms', { title: 'Two instances' });
    expect(created.status).toBe(201);
    const roomId = created.json<{ id: string }>().id;
    const root = await call(1, 'POST', `/api/chat-rooms/${roomId}/messages`, { content: 'root' });
    const children: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await call(i, 'POST', `/api/chat-rooms/${roomId}/messages`, {
        content: `child ${i}`,
        parentId: root.json<{ id: string }>().id,
      });
      expect(res.status).toBe(201);
      children.push(res.json<{ id: string }>().id);
    }
    const [a, b] = [await roomOn(0, roomId), await roomOn(1, roomId)];
    expect(b).toEqual(a);
    return { roomId, version: a.version, children };
  };

  it('20 posts holding one version, spread over both: exactly one applies, 19 are 412', async () => {
    const f = await fan(2);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(
          i,
          'POST',
          `/api/chat-rooms/${f.roomId}/messages`,
          { content: `race ${i}` },
          `"${f.version}"`,
        ),
      ),
    );
    const statuses = answers.map((res) => res.status).sort();
    expect(statuses).toEqual([201, ...Array(19).fill(412)]);
    for (const server of [0, 1]) {
      const room = await roomOn(server, f.roomId);
      expect(room.version).toBe(f.version + 1);
      expect(room.activeMessageId).toBe(
        answers.find((res) => res.status === 201)!.json<{ id: string }>().id,
      );
    }
  });

  it('mixed writes holding one version, spread over both: exactly one applies', async () => {
    const N = 12;
    const f = await fan(N);
    const writes = (i: number) => {
      const tag = `"${f.version}"`;
      const child = f.children[i];
      switch (i % 4) {
        case 0:
          return call(i, 'PATCH', `/api/chat-rooms/${f.roomId}`, { title: `T${i}` }, tag);
        case 1:
          return call(i, 'POST', `/api/chat-rooms/${f.roomId}/messages`, { content: `m${i}` }, tag);
        case 2:
          return call(
            i,
            'PUT',
            `/api/chat-rooms/${f.roomId}/active-message`,
            { messageId: child },
            tag,
          );
        default:
          return call(i, 'DELETE', `/api/chat-rooms/${f.roomId}/messages/${child}`, undefined, tag);
      }
    };
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => writes(i)));
    expect(answers.filter((res) => res.status < 300)).toHaveLength(1);
    expect(answers.filter((res) => res.status === 412)).toHaveLength(N - 1);
    expect((await roomOn(1, f.roomId)).version).toBe(f.version + 1);
  });

  it('without If-Match, 20 posts spread over both all apply, in one line, version +20', async () => {
    const f = await fan(1);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(i, 'POST', `/api/chat-rooms/${f.roomId}/messages`, { content: `free ${i}` }),
      ),
    );
    expect(answers.map((res) => res.status)).toEqual(Array(20).fill(201));
    const room = await roomOn(0, f.roomId);
    expect(room.version).toBe(f.version + 20);
    expect(room.messages).toHaveLength(2 + 20);
    expect(room.messages.every((m, i) => i === 0 || m.parentId === room.messages[i - 1].id)).toBe(
      true,
    );
    expect(ids(room.messages).slice(-20).sort()).toEqual(
      answers.map((res) => res.json<{ id: string }>().id).sort(),
    );
  });
});
