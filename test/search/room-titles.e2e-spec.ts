import { createRoom } from '../factories/chat';
import { registerUser, RegisteredUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';

describe('GET /api/chat-rooms?q= (room titles, e2e)', () => {
  let t: TestApp;
  let me: RegisteredUser;
  let other: RegisteredUser;

  beforeAll(async () => {
    t = await startTestApp();
    me = await registerUser(t.http);
    other = await registerUser(t.http);
    for (const title of [
      'Trip to Seoul',
      'seoul food',
      '서울 여행 계획',
      'Café crème',
      '100% done',
      '100 done',
      'a_b test',
      'axb test',
      'back\\slash',
      'Other',
    ]) {
      await createRoom(t.http, me, title);
    }
    await createRoom(t.http, other, 'Seoul secrets');
  });
  afterAll(() => t.close());

  const titles = async (q: string, extra: Record<string, string> = {}) => {
    const res = await t.http
      .get('/api/chat-rooms')
      .query({ q, ...extra })
      .set(me.auth);
    expect(res.status).toBe(200);
    return res.body as { items: { title: string }[]; total: number; limit: number; offset: number };
  };

  it.each([
    ['SEOUL', ['seoul food', 'Trip to Seoul']],
    ['서울', ['서울 여행 계획']],
    ['CAFÉ', ['Café crème']],
    ['é', ['Café crème']],
    ['100%', ['100% done']],
    ['a_b', ['a_b test']],
    ['\\', ['back\\slash']],
    ['nothing like it', []],
  ])('q=%j keeps the caller’s rooms whose title contains it', async (q, expected) => {
    const page = await titles(q);
    expect(page.items.map((r) => r.title)).toEqual(expected);
    expect(page.total).toBe(expected.length);
  });

  it('pages the matches, most recently active first, total counting all matches', async () => {
    const page = await titles('o', { limit: '2', offset: '1' });
    expect(page.items.map((r) => r.title)).toEqual(['100 done', '100% done']);
    expect(page.total).toBe(5);
    const past = await titles('o', { limit: '2', offset: '10' });
    expect(past.items).toEqual([]);
    expect(past.total).toBe(5);
  });

  it('never lists another user’s rooms', async () => {
    expect((await titles('secrets')).items).toEqual([]);
  });

  it.each([
    ['empty', { q: '' }],
    ['201 characters', { q: 'x'.repeat(201) }],
    ['with NUL', { q: 'a\u0000' }],
  ])('answers 400 for a q %s', async (_, query) => {
    expectErrorBody(await t.http.get('/api/chat-rooms').query(query).set(me.auth), 400);
  });
});
