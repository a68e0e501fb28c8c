import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { EventEmitter2 } from '@nestjs/event-emitter';
import { register as registry } from 'prom-client';
import { io } from 'socket.io-client';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { readDemoConfig } from '../sample/config.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { DbscDevice, Jar, parseChallenge, parseRegistration } from './support/dbsc-client.js';
import { listen, setCookie } from './support/http.js';

// Device Bound Session Credentials against the demo, over HTTP, with a client that speaks the
// protocol as Chrome does (P-256 keys from WebCrypto): issue 19. The demo's session clock moves
// time, so the bound cookie's 10 minutes pass without waiting.

const PASSWORD = 'correct horse battery';
const MINUTE = 60_000;
const SECRET = randomBytes(32).toString('base64');
const FORBIDDEN = { statusCode: 403, message: 'Forbidden' };

describe.each<HttpAdapterName>(['express', 'fastify'])('device-bound sessions in the demo on %s', (adapter) => {
  const clock = new TestClock(Date.now());
  let db: TestDatabase;
  const apps: INestApplication[] = [];
  let a: string;
  let b: string;
  let seq = 0;

  async function instance(): Promise<string> {
    const config = readDemoConfig({ SESSION_DEVICE_BOUND: 'true', SESSION_DEVICE_BOUND_SECRET: SECRET, COOKIE_SECURE: 'false', LOGIN_IP_LIMIT: 'off' });
    const app = await createDemoApp({ databaseUrl: db.url, loginThrottle: config.loginThrottle, session: { ...config.session, cleanup: false, clock: clock.now } }, adapter);
    apps.push(app);
    return listen(app);
  }

  beforeAll(async () => {
    db = await createTestDatabase(`nss_dbsc_${adapter}`);
    a = await instance();
    b = await instance();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
  });

  /** A user logged in from a fresh browser: its jar and the registration the login offered. */
  async function login(base = a) {
    const email = `dbsc${++seq}-${adapter}@example.test`;
    await request(base).post('/auth/register').send({ email, password: PASSWORD }).expect(201);
    const res = await request(base).post('/auth/login').send({ email, password: PASSWORD }).expect(200);
    const jar = new Jar();
    jar.take(res.headers);
    return { jar, token: res.body.token as string, registration: parseRegistration(res.headers['secure-session-registration']), legacy: res.headers['sec-session-registration'] };
  }
  const me = (base: string, jar: Jar) => request(base).get('/me').set('Cookie', jar.header());
  const register = (base: string, jar: Jar, proof?: string) => {
    const req = request(base).post('/auth/device-bound/register').set('Cookie', jar.header());
    return proof === undefined ? req : req.set('Secure-Session-Response', proof);
  };
  const refresh = (base: string, jar: Jar, sessionId: string, proof?: string) => {
    const req = request(base).post('/auth/device-bound/refresh').set('Cookie', jar.header()).set('Sec-Secure-Session-Id', `"${sessionId}"`);
    return proof === undefined ? req : req.set('Secure-Session-Response', proof);
  };

  /** A logged-in browser that registered `device`'s key; its session id. */
  async function bound(device: DbscDevice, base = a) {
    const browser = await login(base);
    const res = await register(base, browser.jar, await device.proof(browser.registration!.challenge, 'registration')).expect(200);
    browser.jar.take(res.headers);
    return { ...browser, sessionId: res.body.session_identifier as string, instructions: res.body };
  }

  /** The browser's refresh: the challenge, then the proof over it; the answer to the proof. */
  async function renew(base: string, jar: Jar, sessionId: string, device: DbscDevice) {
    const asked = await refresh(base, jar, sessionId).expect(403);
    const challenge = parseChallenge(asked.headers['secure-session-challenge'])!;
    const res = await refresh(base, jar, sessionId, await device.proof(challenge.challenge, 'refresh'));
    if (res.status === 200) jar.take(res.headers);
    return { res, challenge };
  }

  it('offers registration at login, in the header Chrome reads and the legacy one', async () => {
    const { registration, legacy } = await login();
    expect(registration).toMatchObject({ algorithms: ['ES256'], path: '/auth/device-bound/register' });
    expect(legacy).toBe(`(ES256);path="/auth/device-bound/register";challenge="${registration!.challenge}"`);
  });

  it('registers the key: session instructions, a bound cookie of 10 minutes, and the session listed as device-bound', async () => {
    const device = await DbscDevice.create();
    const browser = await login();
    const res = await register(a, browser.jar, await device.proof(browser.registration!.challenge, 'registration')).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const cookie = setCookie(res.headers, 'session-bound')!;
    expect(cookie.attributes).toMatchObject({ 'max-age': '600', httponly: true, path: '/', samesite: 'Lax' });
    expect(res.body).toEqual({
      session_identifier: expect.stringMatching(/^\d+$/),
      refresh_url: '/auth/device-bound/refresh',
      scope: { include_site: false },
      credentials: [{ type: 'cookie', name: 'session-bound', attributes: 'Path=/; HttpOnly; SameSite=Lax' }],
    });
    browser.jar.take(res.headers);
    const sessions = (await request(a).get('/sessions').set('Cookie', browser.jar.header()).expect(200)).body as { id: string; deviceBound: boolean }[];
    expect(sessions).toEqual([expect.objectContaining({ id: res.body.session_identifier, deviceBound: true })]);
    // A second registration, even with the same key and challenge, is refused: a key is set once.
    await register(a, browser.jar, await device.proof(browser.registration!.challenge, 'registration')).expect(403);
  });

  it('asks a bound session for the bound cookie on every request, whatever carries the token; other sessions work as before', async () => {
    const device = await DbscDevice.create();
    const { jar, token } = await bound(device);
    await me(a, jar).expect(200);
    await me(b, jar).expect(200);
    expect((await me(b, jar.copy('session')).expect(401)).body).toEqual({ statusCode: 401, message: 'Unauthorized' });
    await request(a).get('/me').set('Authorization', `Bearer ${token}`).expect(401);
    const plain = await login();
    await me(a, plain.jar).expect(200);
    expect((await request(a).get('/sessions').set('Cookie', plain.jar.header()).expect(200)).body[0].deviceBound).toBe(false);
  });

  it('refreshes with a valid proof on either instance (the challenge state is shared), and refuses its replay', async () => {
    const device = await DbscDevice.create();
    const { jar, sessionId } = await bound(device);
    // The test clock stands still; a browser refreshes some time after its registration.
    clock.advance(MINUTE);
    const asked = await refresh(a, jar, sessionId).expect(403);
    expect(asked.body).toEqual(FORBIDDEN);
    const challenge = parseChallenge(asked.headers['secure-session-challenge'])!;
    expect(challenge.id).toBe(sessionId);
    expect(asked.headers['sec-session-challenge']).toBe(asked.headers['secure-session-challenge']);
    const proof = await device.proof(challenge.challenge, 'refresh');
    const ok = await refresh(b, jar, sessionId, proof).expect(200);
    expect(setCookie(ok.headers, 'session-bound')?.attributes['max-age']).toBe('600');
    expect(ok.body.session_identifier).toBe(sessionId);
    // The same proof again, on either instance: the challenge was good once. Each refusal is
    // an event (on the instance that refused) and a count.
    const failed: unknown[] = [];
    for (const app of apps) app.get(EventEmitter2).on('session.device-proof-failed', (event: unknown) => failed.push(event));
    const counted = async () => (await registry.getSingleMetric('sessions_refused_total')!.get()).values.find((v) => v.labels.reason === 'device_proof')?.value ?? 0;
    const before = await counted();
    for (const base of [a, b]) {
      const replay = await refresh(base, jar, sessionId, proof).expect(403);
      expect(setCookie(replay.headers, 'session-bound')).toBeUndefined();
      expect(parseChallenge(replay.headers['secure-session-challenge'])).not.toBeNull();
    }
    expect(failed).toEqual([expect.objectContaining({ sessionId, reason: 'replayed' }), expect.objectContaining({ sessionId, reason: 'replayed' })]);
    expect((await counted()) - before).toBe(2);
  });

  it('refuses a proof over a stale challenge, over another session\'s, or signed by another key', async () => {
    const device = await DbscDevice.create();
    const { jar, sessionId } = await bound(device);
    const other = await bound(await DbscDevice.create());
    const stale = parseChallenge((await refresh(a, jar, sessionId).expect(403)).headers['secure-session-challenge'])!;
    clock.advance(5 * MINUTE + 1);
    await refresh(a, jar, sessionId, await device.proof(stale.challenge, 'refresh')).expect(403);
    const foreign = parseChallenge((await refresh(a, other.jar, other.sessionId).expect(403)).headers['secure-session-challenge'])!;
    await refresh(a, jar, sessionId, await device.proof(foreign.challenge, 'refresh')).expect(403);
    const fresh = parseChallenge((await refresh(a, jar, sessionId).expect(403)).headers['secure-session-challenge'])!;
    await refresh(a, jar, sessionId, await (await DbscDevice.create()).proof(fresh.challenge, 'refresh')).expect(403);
    // A refresh proof must not carry a key of its own, even the right one.
    await refresh(a, jar, sessionId, await device.proof(fresh.challenge, 'refresh', { header: { jwk: device.publicJwk } })).expect(403);
    // The right key over the same fresh challenge still works: the failures consumed nothing.
    await refresh(a, jar, sessionId, await device.proof(fresh.challenge, 'refresh')).expect(200);
    // A registration needs the login's challenge: a refresh challenge (or none) is refused.
    const plain = await login();
    await register(a, plain.jar, await device.proof(fresh.challenge, 'registration')).expect(403);
    await register(a, plain.jar).expect(403);
  });

  it('a stolen session cookie works only until the bound cookie it was copied with expires; the device goes on', async () => {
    const device = await DbscDevice.create();
    const victim = await bound(device);
    const thief = victim.jar.copy('session', 'session-bound');
    await me(b, thief).expect(200);
    clock.advance(10 * MINUTE);
    // The bound cookie's lifetime is over: the thief's copy is refused, the thief cannot refresh it.
    await me(b, thief).expect(401);
    const asked = await refresh(b, thief, victim.sessionId).expect(403);
    const challenge = parseChallenge(asked.headers['secure-session-challenge'])!;
    await refresh(b, thief, victim.sessionId, await (await DbscDevice.create()).proof(challenge.challenge, 'refresh')).expect(403);
    await me(b, thief.copy('session')).expect(401);
    // The device proves its key and works on, on both instances.
    const { res } = await renew(a, victim.jar, victim.sessionId, device);
    expect(res.status).toBe(200);
    await me(a, victim.jar).expect(200);
    await me(b, victim.jar).expect(200);
  });

  it('ends as any session: logout clears both cookies, and a refresh after it is a 401', async () => {
    const device = await DbscDevice.create();
    const { jar, sessionId } = await bound(device);
    const copy = jar.copy('session', 'session-bound');
    const out = await request(a).post('/auth/logout').set('Cookie', jar.header()).expect(204);
    expect(setCookie(out.headers, 'session-bound')?.attributes['max-age']).toBe('0');
    await me(b, copy).expect(401);
    await refresh(b, copy, sessionId).expect(401);
  });

  it('asks a socket.io handshake of a bound session for the bound cookie too, and GraphQL over HTTP', async () => {
    const { jar } = await bound(await DbscDevice.create());
    const connect = (cookie: string) =>
      new Promise<{ error?: Error; whoami?: unknown }>((resolve) => {
        const socket = io(a, { transports: ['websocket'], reconnection: false, extraHeaders: { cookie } });
        socket.once('connect', async () => {
          resolve({ whoami: await socket.timeout(2_000).emitWithAck('whoami') });
          socket.close();
        });
        socket.once('connect_error', (error) => {
          resolve({ error });
          socket.close();
        });
      });
    expect((await connect(jar.copy('session').header())).error?.message).toBe('Unauthorized');
    expect((await connect(jar.header())).whoami).toMatchObject({ email: expect.stringContaining('@example.test') });
    const graphql = (cookie: string) => request(a).post('/graphql').set('Cookie', cookie).send({ query: '{ me { email } }' }).expect(200);
    expect((await graphql(jar.copy('session').header())).body.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await graphql(jar.header())).body.data.me.email).toContain('@example.test');
  });

  it('refuses a refresh that names another session, or none (not the browser\'s own DBSC fetch)', async () => {
    const device = await DbscDevice.create();
    const { jar, sessionId } = await bound(device);
    await refresh(a, jar, String(BigInt(sessionId) + 1000n)).expect(403);
    const unnamed = await request(a).post('/auth/device-bound/refresh').set('Cookie', jar.header()).expect(403);
    expect(unnamed.headers['secure-session-challenge']).toBeUndefined();
  });
});
