import { registerUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { expectErrorBody } from '../helpers/expect-error';
import { expectSessionLive, refresh, signedInFrom } from '../helpers/sessions';

const PUBLIC = 'https://chat.example.com';
const LISTED = 'https://app.example.com';

/** The cookie routes compare Origin with configured origins; a Host header proves nothing. */
describe.each([
  ['with PUBLIC_URL', { PUBLIC_URL: `${PUBLIC}/some/path` }],
  ['in production without PUBLIC_URL', { NODE_ENV: 'production' }],
])('trusted origins of the cookie routes %s (e2e)', (_case, env) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: LISTED, ...env });
  });
  afterAll(() => t.close());

  it('refuses an Origin that only matches the Host header (403) and changes nothing', async () => {
    const user = await registerUser(t.http);
    for (const host of ['evil.example.net', 'chat.example.com']) {
      expectErrorBody(
        await refresh(t.http, user.refreshCookie, `http://${host}`).set('Host', host),
        403,
      );
      expectErrorBody(
        await t.http
          .post('/api/auth/logout')
          .set('Cookie', user.refreshCookie)
          .set('Host', host)
          .set('Origin', `http://${host}`),
        403,
      );
    }
    await expectSessionLive(t.http, user);
  });

  it('accepts CORS_ORIGINS, and PUBLIC_URL’s origin when it is set', async () => {
    const user = await registerUser(t.http);
    let signedIn = signedInFrom(
      await refresh(t.http, user.refreshCookie, LISTED).set('Host', 'evil.example.net').expect(200),
    );
    if ('PUBLIC_URL' in env) {
      signedIn = signedInFrom(
        await refresh(t.http, signedIn.refreshCookie, PUBLIC)
          .set('Host', 'evil.example.net')
          .expect(200),
      );
    } else {
      expectErrorBody(await refresh(t.http, signedIn.refreshCookie, PUBLIC), 403);
    }
    await t.http
      .post('/api/auth/logout')
      .set('Cookie', signedIn.refreshCookie)
      .set('Origin', LISTED)
      .expect(204);
  });
});
