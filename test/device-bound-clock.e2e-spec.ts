import type { INestApplication } from '@nestjs/common';
import { io } from 'socket.io-client';
import request from 'supertest';
import { createDemoApp } from '../sample/app.js';
import { readDemoConfig } from '../sample/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DbscDevice, Jar, parseChallenge, parseRegistration } from './support/dbsc-client.js';
import { listen } from './support/http.js';

// Issue 19's figure: a copied cookie against the demo on the real clock, with a bound cookie of
// two seconds, beside the device it was copied from, which refreshes as Chrome does.

const PASSWORD = 'correct horse battery';
describe('a stolen cookie against a real clock (SESSION_DEVICE_BOUND_TTL=2s)', () => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  beforeAll(async () => {
    db = await createTestDatabase('nss_dbsc_clock');
    const config = readDemoConfig({ SESSION_DEVICE_BOUND: 'true', SESSION_DEVICE_BOUND_TTL: '2s', COOKIE_SECURE: 'false', LOGIN_IP_LIMIT: 'off' });
    app = await createDemoApp({ databaseUrl: db.url, loginThrottle: config.loginThrottle, session: { ...config.session, cleanup: false } });
    base = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  /** A new user logged in from a browser that registered `device`'s key: its jar and the registration's instructions. */
  async function boundBrowser(device: DbscDevice) {
    const email = `clock-${Date.now()}-${Math.random()}@example.test`;
    await request(base).post('/auth/register').send({ email, password: PASSWORD }).expect(201);
    const login = await request(base).post('/auth/login').send({ email, password: PASSWORD }).expect(200);
    const jar = new Jar();
    jar.take(login.headers);
    const registration = parseRegistration(login.headers['secure-session-registration'])!;
    const registered = await request(base).post(registration.path).set('Cookie', jar.header()).set('Secure-Session-Response', await device.proof(registration.challenge, 'registration')).expect(200);
    jar.take(registered.headers);
    return { jar, sessionId: registered.body.session_identifier as string, refreshUrl: registered.body.refresh_url as string };
  }

  it('closes a socket opened with a copied cookie when the copied bound cookie expires', async () => {
    const { jar } = await boundBrowser(await DbscDevice.create());
    const boundAt = Date.now();
    const socket = io(base, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie: jar.copy('session', 'session-bound').header() } });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      const reason = await new Promise<string>((resolve) => socket.once('disconnect', resolve));
      expect(reason).toBe('io server disconnect');
      // Not at once: when the copied bound cookie's two seconds are over.
      expect(Date.now() - boundAt).toBeGreaterThanOrEqual(1_900);
      expect(Date.now() - boundAt).toBeLessThanOrEqual(2_000 + 250);
    } finally {
      socket.close();
    }
  });

  it('refuses the thief within one bound-cookie lifetime of the theft, while the device, refreshing as Chrome does, is never refused', async () => {
    const device = await DbscDevice.create();
    const { jar, sessionId, refreshUrl } = await boundBrowser(device);
    let boundUntil = Date.now() + 2_000;

    const stolenAt = Date.now();
    const thief = jar.copy('session', 'session-bound');
    let thiefRefusedAt: number | null = null;
    const device200: number[] = [];
    const deviceOther: number[] = [];
    while (Date.now() - stolenAt < 4_000) {
      // The browser refreshes shortly before its bound cookie expires, and holds requests meanwhile.
      if (Date.now() > boundUntil - 300) {
        const asked = await request(base).post(refreshUrl).set('Cookie', jar.header()).set('Sec-Secure-Session-Id', `"${sessionId}"`).expect(403);
        const challenge = parseChallenge(asked.headers['secure-session-challenge'])!;
        const renewed = await request(base).post(refreshUrl).set('Cookie', jar.header()).set('Sec-Secure-Session-Id', `"${sessionId}"`).set('Secure-Session-Response', await device.proof(challenge.challenge, 'refresh')).expect(200);
        jar.take(renewed.headers);
        boundUntil = Date.now() + 2_000;
      }
      const mine = await request(base).get('/me').set('Cookie', jar.header());
      (mine.status === 200 ? device200 : deviceOther).push(mine.status);
      const theirs = await request(base).get('/me').set('Cookie', thief.header());
      if (theirs.status === 401 && thiefRefusedAt === null) thiefRefusedAt = Date.now();
      if (thiefRefusedAt !== null) expect(theirs.status).toBe(401);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(deviceOther).toEqual([]);
    expect(device200.length).toBeGreaterThan(20);
    expect(thiefRefusedAt).not.toBeNull();
    // Refused once the copied bound cookie's two seconds are over (its Max-Age is whole seconds).
    expect(thiefRefusedAt! - stolenAt).toBeLessThanOrEqual(2_000 + 250);
    console.log(`DBSC figures: thief refused ${thiefRefusedAt! - stolenAt} ms after the theft (bound cookie 2 s); the device made ${device200.length} requests, all 200`);
  }, 20_000);
});
