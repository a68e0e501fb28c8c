import type { INestApplication, LoggerService } from '@nestjs/common';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { DemoConfigError, readDemoConfig, SESSION_OPTION_VARIABLES } from '../sample/config.js';
import { SessionOptionsError } from '../src/index.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase, userIdOf } from './support/database.js';
import { listen } from './support/http.js';

// The demo's session details (device metadata and last seen, re-authentication, per-session
// data), configured by readDemoConfig as `npm start` is, over HTTP on a real PostgreSQL.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const PASSWORD = 'correct horse battery';
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const STALE = { statusCode: 403, message: 'Reauthentication required', error: 'reauthentication_required' };
// Other than the defaults, so the tests show the variables reach the routes.
const ENV = { SESSION_FRESH_AGE: '15m', SESSION_DATA_MAX_BYTES: '1024' };
const FRESH_AGE = 15 * MINUTE;

/** Keeps the log lines (the audit listener's among them), passing errors and warnings on. */
class KeptLog implements LoggerService {
  readonly lines: string[] = [];
  log(message: unknown, context?: string): void {
    this.lines.push(`[${context}] ${String(message)}`);
  }
  error(...args: unknown[]): void {
    console.error(...args);
  }
  warn(...args: unknown[]): void {
    console.warn(...args);
  }
}

describe('demo configuration of the session details', () => {
  it('records every metadata field, re-authentication and data by default, fresh for 10 minutes', () => {
    const config = readDemoConfig({});
    expect(config.freshAge).toBe('10m');
    expect(config.session).toMatchObject({
      metadata: { userAgent: true, device: true, ip: 'full', lastSeen: true },
      reauthentication: true,
      data: { maxBytes: 4096 },
    });
    expect(readDemoConfig(ENV)).toMatchObject({ freshAge: '15m', session: { data: { maxBytes: 1024 } } });
  });

  it.each([
    [{ SESSION_FRESH_AGE: 'soon' }, 'SESSION_FRESH_AGE', 'SESSION_FRESH_AGE: got "soon"; expected a duration'],
    [{ SESSION_DATA_MAX_BYTES: '4k' }, 'SESSION_DATA_MAX_BYTES', 'SESSION_DATA_MAX_BYTES: got "4k"; expected a whole number of bytes'],
  ])('refuses %p, naming the variable', (env, variable, message) => {
    let error: unknown;
    try {
      readDemoConfig(env);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(DemoConfigError);
    expect(error).toMatchObject({ variable, message: expect.stringContaining(message) });
  });

  it('names SESSION_DATA_MAX_BYTES when the library refuses its value', async () => {
    const db = await createTestDatabase('nss_demo_details_cfg');
    let app: INestApplication | undefined;
    let error: unknown;
    try {
      app = await createDemoApp({ databaseUrl: db.url, session: { ...readDemoConfig({ SESSION_DATA_MAX_BYTES: '1' }).session, cleanup: false } });
    } catch (thrown) {
      error = thrown;
    } finally {
      await app?.close();
      await db.drop();
    }
    expect(error).toBeInstanceOf(SessionOptionsError);
    expect(SESSION_OPTION_VARIABLES[(error as SessionOptionsError).option]).toBe('SESSION_DATA_MAX_BYTES');
    expect((error as Error).message).toContain('got 1; expected a whole number of bytes from 2');
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('demo session details on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  const log = new KeptLog();
  const clock = new TestClock(Date.now());
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_demo_details_${adapter}`);
    const config = readDemoConfig(ENV);
    app = await createDemoApp({ databaseUrl: db.url, freshAge: config.freshAge, session: { ...config.session, cleanup: false, clock: clock.now } }, adapter);
    app.useLogger(log);
    base = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const http = () => request(base);
  const bearer = (token: string, agent = CHROME_MAC) => ({ Authorization: `Bearer ${token}`, 'User-Agent': agent });

  async function register() {
    const email = `details${++seq}@example.test`;
    await http().post('/auth/register').send({ email, password: PASSWORD }).expect(201);
    return { id: await userIdOf(db.url, email), email };
  }

  async function login(user: { email: string }, agent = CHROME_MAC): Promise<string> {
    // A client cannot choose the address it is recorded with: no `trust proxy`, so this is ignored.
    const res = await http().post('/auth/login').set({ 'User-Agent': agent, 'X-Forwarded-For': '203.0.113.7' }).send({ email: user.email, password: PASSWORD }).expect(200);
    return res.body.token as string;
  }

  const sessionsOf = async (token: string) => (await http().get('/sessions').set(bearer(token)).expect(200)).body as Record<string, unknown>[];

  describe('GET /sessions', () => {
    it('answers each device: the user agent as sent, its label, the address the adapter saw, when last seen', async () => {
      const user = await register();
      const laptopAt = clock.now();
      const laptop = await login(user, CHROME_MAC);
      clock.advance(MINUTE);
      await login(user, FIREFOX_LINUX);
      const [newest, oldest] = await sessionsOf(laptop);
      expect(oldest).toEqual({
        id: expect.any(String),
        createdAt: new Date(laptopAt).toISOString(),
        expiresAt: expect.any(String),
        lastSeenAt: new Date(laptopAt).toISOString(),
        userAgent: CHROME_MAC,
        device: 'Chrome on macOS',
        ip: '127.0.0.1',
        deviceBound: false,
        current: true,
      });
      expect(newest).toMatchObject({ userAgent: FIREFOX_LINUX, device: 'Firefox on Linux', ip: '127.0.0.1', current: false });
    });

    it('moves lastSeenAt with the sliding write only: once a day (updateAge), not on every request', async () => {
      const token = await login(await register());
      const loginAt = clock.now();
      clock.advance(HOUR);
      await http().get('/me').set(bearer(token)).expect(200);
      expect((await sessionsOf(token))[0].lastSeenAt).toBe(new Date(loginAt).toISOString());
      clock.advance(24 * HOUR);
      await http().get('/me').set(bearer(token)).expect(200);
      expect((await sessionsOf(token))[0].lastSeenAt).toBe(new Date(clock.now()).toISOString());
    });

    it('logs each login as a new device, with its label and address (the session.created event)', async () => {
      const user = await register();
      await login(user, FIREFOX_LINUX);
      const [session] = await sessionsOf(await login(user, CHROME_MAC));
      expect(log.lines).toContain(`[Audit] login: user ${user.id}, session ${String(session.id)}, new device: Chrome on macOS at 127.0.0.1`);
    });
  });

  describe('re-authentication', () => {
    it('a fresh login opens /me/security until SESSION_FRESH_AGE has passed, then 403 until the password is given again', async () => {
      const user = await register();
      const token = await login(user);
      const loginAt = clock.now();
      expect((await http().get('/me/security').set(bearer(token)).expect(200)).body).toEqual({ reauthenticatedAt: new Date(loginAt).toISOString() });

      clock.advance(FRESH_AGE);
      await http().get('/me/security').set(bearer(token)).expect(200);
      clock.advance(1);
      expect((await http().get('/me/security').set(bearer(token)).expect(403)).body).toEqual(STALE);
      // Still logged in, and still able to see and end its sessions: only the sensitive route is closed.
      await http().get('/me').set(bearer(token)).expect(200);
      const [session] = await sessionsOf(token);

      const wrong = await http().post('/auth/reauthenticate').set(bearer(token)).send({ password: 'not the password' }).expect(401);
      expect(wrong.body).toEqual(UNAUTHORIZED);
      await http().get('/me/security').set(bearer(token)).expect(403);

      await http().post('/auth/reauthenticate').set(bearer(token)).send({ password: PASSWORD }).expect(204);
      expect((await http().get('/me/security').set(bearer(token)).expect(200)).body).toEqual({ reauthenticatedAt: new Date(clock.now()).toISOString() });

      clock.advance(FRESH_AGE + 1);
      await http().delete(`/sessions/${String(session.id)}`).set(bearer(token)).expect(204);
      await http().get('/me').set(bearer(token)).expect(401);
    });

    it('is per session: re-authenticating one leaves the user\'s others stale', async () => {
      const user = await register();
      const phone = await login(user, FIREFOX_LINUX);
      const laptop = await login(user);
      clock.advance(FRESH_AGE + 1);
      await http().post('/auth/reauthenticate').set(bearer(laptop)).send({ password: PASSWORD }).expect(204);
      await http().get('/me/security').set(bearer(laptop)).expect(200);
      await http().get('/me/security').set(bearer(phone, FIREFOX_LINUX)).expect(403);
    });

    it('answers 401 without a session, and 400 without a password', async () => {
      expect((await http().post('/auth/reauthenticate').send({ password: PASSWORD }).expect(401)).body).toEqual(UNAUTHORIZED);
      expect((await http().get('/me/security').expect(401)).body).toEqual(UNAUTHORIZED);
      const token = await login(await register());
      await http().post('/auth/reauthenticate').set(bearer(token)).send({}).expect(400);
      await http().post('/auth/reauthenticate').set(bearer(token)).send({ password: PASSWORD, admin: true }).expect(400);
    });
  });

  describe('session data', () => {
    const data = async (token: string) => (await http().get('/session/data').set(bearer(token)).expect(200)).body as unknown;
    const patch = (token: string, body: unknown) => http().patch('/session/data').set(bearer(token)).send(body as object);

    it('starts empty; a PATCH merges its top-level keys, null removes one', async () => {
      const token = await login(await register());
      expect(await data(token)).toEqual({});
      expect((await patch(token, { theme: 'dark', cart: [1, 2] }).expect(200)).body).toEqual({ theme: 'dark', cart: [1, 2] });
      expect((await patch(token, { theme: null, lang: 'fr' }).expect(200)).body).toEqual({ cart: [1, 2], lang: 'fr' });
      expect(await data(token)).toEqual({ cart: [1, 2], lang: 'fr' });
    });

    it('answers 413 past SESSION_DATA_MAX_BYTES and changes nothing', async () => {
      const token = await login(await register());
      await patch(token, { note: 'x'.repeat(600) }).expect(200);
      // Alone this patch fits; with what the session holds it does not.
      const res = await patch(token, { more: 'y'.repeat(600) }).expect(413);
      expect(res.body).toEqual({ statusCode: 413, message: 'Session data over 1024 bytes', error: 'Payload Too Large' });
      await patch(token, { huge: 'z'.repeat(2000) }).expect(413);
      expect(await data(token)).toEqual({ note: 'x'.repeat(600) });
    });

    // Refused by the route's pipe, or before it by the adapter's JSON parser (Express's strict mode, Fastify's prototype check).
    it.each<[string, string]>([
      ['an array', '[1,2]'],
      ['a string', '"dark"'],
      ['null', 'null'],
      ['a __proto__ key', '{"__proto__":{"admin":true}}'],
    ])('answers 400 for %s, and changes nothing', async (_label, body) => {
      const token = await login(await register());
      await patch(token, { kept: true }).expect(200);
      const res = await http().patch('/session/data').set(bearer(token)).set('Content-Type', 'application/json').send(body).expect(400);
      expect(res.body).toMatchObject({ statusCode: 400 });
      expect(JSON.stringify(res.body)).not.toContain('admin');
      expect(await data(token)).toEqual({ kept: true });
    });

    it('keeps each session\'s own: two logins of one user do not share data', async () => {
      const user = await register();
      const phone = await login(user, FIREFOX_LINUX);
      const laptop = await login(user);
      await patch(laptop, { tab: 'billing' }).expect(200);
      await http().patch('/session/data').set(bearer(phone, FIREFOX_LINUX)).send({ tab: 'inbox' }).expect(200);
      expect(await data(laptop)).toEqual({ tab: 'billing' });
      expect((await http().get('/session/data').set(bearer(phone, FIREFOX_LINUX)).expect(200)).body).toEqual({ tab: 'inbox' });
    });

    it('ends with the session: after a logout, a new login starts with {}', async () => {
      const user = await register();
      const token = await login(user);
      await patch(token, { draft: 'hello' }).expect(200);
      await http().post('/auth/logout').set(bearer(token)).expect(204);
      await http().get('/session/data').set(bearer(token)).expect(401);
      await patch(token, { draft: 'again' }).expect(401);
      expect(await data(await login(user))).toEqual({});
    });
  });
});
