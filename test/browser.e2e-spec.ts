import type { INestApplication } from '@nestjs/common';
import { type Browser, chromium } from 'playwright-core';
import { createDemoApp } from '../sample/app.js';
import { readDemoConfig } from '../sample/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';

// Debian's chromium (installed by .ci/run); the flags keep it off a network this machine lacks.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let db: TestDatabase;
let app: INestApplication;
let browser: Browser;
let base: string;

beforeAll(async () => {
  db = await createTestDatabase('nss_browser');
  // As `npm start` configures it: the device list needs the metadata options.
  const { session, freshAge } = readDemoConfig({});
  app = await createDemoApp({ databaseUrl: db.url, freshAge, session });
  await app.listen(0, '127.0.0.1');
  // localhost, not 127.0.0.1: the name browsers treat as a secure context for Secure cookies.
  base = (await app.getUrl()).replace('127.0.0.1', 'localhost');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await db?.drop();
});

describe('the login and account pages in Chromium', () => {
  it('register, see the account, log out, log in, revoke the other session, log out everywhere', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const email = `browser-${Date.now()}@example.test`;

    await page.goto(`${base}/account`);
    expect(new URL(page.url()).pathname).toBe('/login');

    // Registering starts no session (a taken email would not get one): back to the login page with a notice.
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'correct horse battery');
    await page.click('button[formaction="/register"]');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(await page.textContent('[role=status]')).toBe('If that email was not registered yet, it is now: log in with it.');
    expect(await context.cookies()).toEqual([]);

    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'correct horse battery');
    await page.click('button:text("Log in")');
    expect(new URL(page.url()).pathname).toBe('/account');
    expect(await page.textContent('#email')).toBe(email);

    // __Host-: Secure, Path=/ and no Domain, or Chromium would have refused it.
    const [cookie] = (await context.cookies()).filter((c) => c.name === '__Host-session');
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/', domain: 'localhost' });
    // HttpOnly: page scripts cannot read the token.
    expect(await page.evaluate("document.cookie")).toBe("");

    await page.click('text=Log out everywhere');
    expect(new URL(page.url()).pathname).toBe('/login');
    expect((await context.cookies()).filter((c) => c.name === '__Host-session')).toEqual([]);

    // A second browser (another device, by its User-Agent) logs in too; the first revokes it from the account page.
    const other = await browser.newContext({ userAgent: CHROME_MAC });
    const otherPage = await other.newPage();
    for (const p of [page, otherPage]) {
      await p.goto(`${base}/login`);
      await p.fill('input[name=email]', email);
      await p.fill('input[name=password]', 'correct horse battery');
      await p.click('button:text("Log in")');
      expect(new URL(p.url()).pathname).toBe('/account');
    }
    await page.reload();
    expect(await page.locator('tbody tr').count()).toBe(2);
    const here = page.locator('tbody tr', { hasText: 'this device' });
    expect(await here.count()).toBe(1);
    // Headless Chromium on this Linux machine, as bowser names it.
    expect(await here.locator('td.device').textContent()).toBe('Chrome on Linux this device');
    expect(await here.locator('td.ip').textContent()).toBe('127.0.0.1');
    expect(await here.locator('td.last-active').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    const there = page.locator('tbody tr', { hasNotText: 'this device' });
    expect(await there.locator('td.device').textContent()).toBe('Chrome on macOS');
    await page.click('button:text("Revoke")');
    expect(await page.locator('tbody tr').count()).toBe(1);
    await otherPage.goto(`${base}/account`);
    expect(new URL(otherPage.url()).pathname).toBe('/login');

    await page.click('button:text-is("Log out")');
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.goto(`${base}/account`);
    expect(new URL(page.url()).pathname).toBe('/login');

    // A short wrong password is just wrong: the form no longer holds it back, the server answers 401.
    await page.fill('input[name=email]', email);
    await page.fill('input[name=password]', 'short');
    await page.click('button:text("Log in")');
    expect(await page.textContent('[role=alert]')).toBe('Invalid email or password.');
    await context.close();
    await other.close();
  }, 60_000);
});
