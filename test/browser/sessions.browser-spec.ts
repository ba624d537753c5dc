import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium } from 'playwright-core';
import { registerUser } from '../factories/users';
import { startTestApp, TestApp } from '../helpers/app';
import { spaPage } from './spa-page';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * A real browser, an SPA on a second origin (listed in CORS_ORIGINS; same site, another port),
 * the API with its refresh cookie: the user signs in, reloads, and is still signed in through
 * POST /api/auth/refresh, without the page ever seeing the refresh token.
 */
describe('an SPA on another origin stays signed in across reloads (browser)', () => {
  let t: TestApp;
  let spa: Server;
  let spaOrigin: string;
  let api: string;
  let context: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    spa = createServer();
    await new Promise<void>((done) => spa.listen(0, '127.0.0.1', done));
    spaOrigin = `http://127.0.0.1:${(spa.address() as AddressInfo).port}`;
    t = await startTestApp({ CORS_ORIGINS: spaOrigin });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    api = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}`;
    const page = spaPage(api);
    spa.on('request', (_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    profile = await mkdtemp(join(tmpdir(), 'chat-browser-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  afterAll(async () => {
    await context?.close();
    await t?.close();
    await new Promise((done) => spa?.close(done));
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('signs in, reloads, and is signed in again through the refresh cookie', async () => {
    const user = await registerUser(t.http);
    const page = await context.newPage();
    const refreshes: number[] = [];
    page.on('response', (res) => {
      if (res.url() === `${api}/api/auth/refresh`) refreshes.push(res.status());
    });

    await page.goto(spaOrigin);
    await page.locator('#status', { hasText: 'signed out' }).waitFor();
    expect(refreshes).toEqual([401]);

    await page.fill('#email', user.email);
    await page.fill('#password', user.password);
    await page.click('#submit');
    await page.locator('#status', { hasText: `signed in as ${user.email}` }).waitFor();

    // The page cannot read the refresh token; the browser keeps it for the API's origin.
    expect(await page.evaluate('document.cookie')).not.toContain('refresh_token');
    const [cookie] = (await context.cookies(`${api}/api/auth/refresh`)).filter(
      (c) => c.name === 'refresh_token',
    );
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/api/auth' });

    await page.reload();
    await page.locator('#status', { hasText: `signed in as ${user.email}` }).waitFor();
    expect(refreshes).toEqual([401, 200]);
    // The cookie rotated.
    const [rotated] = (await context.cookies(`${api}/api/auth/refresh`)).filter(
      (c) => c.name === 'refresh_token',
    );
    expect(rotated.value).not.toBe(cookie.value);

    // Two tabs loading at once: the lock makes them refresh one after the other, both signed in.
    const [second, third] = await Promise.all([context.newPage(), context.newPage()]);
    await Promise.all([second.goto(spaOrigin), third.goto(spaOrigin)]);
    for (const tab of [second, third]) {
      await tab.locator('#status', { hasText: `signed in as ${user.email}` }).waitFor();
    }
    const { rows } = await t.db.query(
      'SELECT revoked_at FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL',
      [user.id],
    );
    expect(rows).toEqual([]);
  });

  it('Swagger UI: "Try it out" on POST /api/auth/refresh works with the cookie of a sign-in', async () => {
    const user = await registerUser(t.http);
    const page = await context.newPage();
    await page.goto(`${api}/api/docs`);
    // Sign in from the docs page itself (same origin), as "Try it out" on login would.
    const status = await page.evaluate(
      `fetch('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify(${JSON.stringify({ email: user.email, password: user.password })}) })
        .then((r) => r.status)`,
    );
    expect(status).toBe(200);
    const operation = page.locator('#operations-auth-AuthController_refresh');
    await operation.locator('.opblock-summary').click();
    await operation.locator('.try-out__btn').click();
    const answered = page.waitForResponse((res) => res.url() === `${api}/api/auth/refresh`);
    await operation.locator('.execute').click();
    expect((await answered).status()).toBe(200);
    await operation
      .locator('.live-responses-table .response-col_status', { hasText: '200' })
      .waitFor();
  });
});
