import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { DemoConfigError, readDemoConfig, SESSION_OPTION_VARIABLES } from '../sample/config.js';
import { SessionOptionsError } from '../src/index.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase, userIdOf } from './support/database.js';
import { listen, setCookie } from './support/http.js';

// The demo's security options (SESSION_TOKEN_TYPE, SESSION_JWT_SECRET, SESSION_REFRESH_TOKEN,
// SESSION_MAX_PER_USER, SESSION_BIND_USER_AGENT), read from the environment by readDemoConfig
// exactly as `npm start` does, then exercised over HTTP on a real PostgreSQL.

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const FORBIDDEN = { statusCode: 403, message: 'Forbidden' };
// 48 random bytes as base64url: the kind of secret `openssl rand -base64 48` gives.
const SECRET = randomBytes(48).toString('base64url');
const PASSWORD = 'correct horse battery';
const CHROME_120 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36';
const CHROME_121 = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0';
// The demo's cookie with COOKIE_SECURE=true, its default: __Host-, so no subdomain can plant one.
const COOKIE = '__Host-session';
// A refresh retried within twice storeTimeout (5 s by default) is taken for a client retrying
// after a 503 and gets a working pair; only a replay a second after that is a theft (the
// refreshed token is issued at the nearest whole second, so that any instance finds it again).
const REFRESH_GRACE = 2 * 5_000 + 1_000;
const nearestSecond = (ms: number) => Math.round(ms / 1_000) * 1_000;

/** The error readDemoConfig throws for `env`, or a failure when it throws none. */
function configError(env: NodeJS.ProcessEnv): DemoConfigError {
  try {
    readDemoConfig(env);
  } catch (error) {
    if (error instanceof DemoConfigError) return error;
    throw error;
  }
  throw new Error(`readDemoConfig accepted ${JSON.stringify(env)}`);
}

/** A JWT's header or payload, decoded without checking anything. */
function jwtPart(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index], 'base64url').toString('utf8'));
}

describe('demo configuration of the security options', () => {
  it.each<[string, NodeJS.ProcessEnv, string, string]>([
    ['an unknown token type', { SESSION_TOKEN_TYPE: 'paseto' }, 'SESSION_TOKEN_TYPE', 'SESSION_TOKEN_TYPE: got "paseto"; expected opaque or jwt.'],
    ['jwt without a secret', { SESSION_TOKEN_TYPE: 'jwt' }, 'SESSION_JWT_SECRET', 'SESSION_JWT_SECRET: missing; SESSION_TOKEN_TYPE=jwt needs a secret of at least 32 bytes'],
    ['refresh tokens without a secret', { SESSION_REFRESH_TOKEN: 'true' }, 'SESSION_JWT_SECRET', 'SESSION_JWT_SECRET: missing; SESSION_REFRESH_TOKEN=true needs a secret of at least 32 bytes'],
    ['refresh tokens with an empty secret', { SESSION_REFRESH_TOKEN: 'true', SESSION_JWT_SECRET: '' }, 'SESSION_JWT_SECRET', 'SESSION_JWT_SECRET: missing;'],
    ['a yes-or-no refresh setting that is neither', { SESSION_REFRESH_TOKEN: 'sometimes' }, 'SESSION_REFRESH_TOKEN', 'SESSION_REFRESH_TOKEN: got "sometimes"; expected true or false.'],
    ['a session limit of 0', { SESSION_MAX_PER_USER: '0' }, 'SESSION_MAX_PER_USER', 'SESSION_MAX_PER_USER: got "0"; expected a positive whole number'],
    ['a negative session limit', { SESSION_MAX_PER_USER: '-2' }, 'SESSION_MAX_PER_USER', 'SESSION_MAX_PER_USER: got "-2"; expected a positive whole number'],
    ['a fractional session limit', { SESSION_MAX_PER_USER: '2.5' }, 'SESSION_MAX_PER_USER', 'SESSION_MAX_PER_USER: got "2.5"; expected a positive whole number'],
    ['a session limit in words', { SESSION_MAX_PER_USER: 'two' }, 'SESSION_MAX_PER_USER', 'SESSION_MAX_PER_USER: got "two"; expected a positive whole number'],
    ['a user-agent binding that is neither', { SESSION_BIND_USER_AGENT: 'strict' }, 'SESSION_BIND_USER_AGENT', 'SESSION_BIND_USER_AGENT: got "strict"; expected true or false.'],
  ])('refuses %s, naming the variable', (_label, env, variable, message) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(message);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ['with SESSION_TOKEN_TYPE=jwt', { SESSION_TOKEN_TYPE: 'jwt' }],
    ['with SESSION_REFRESH_TOKEN=true', { SESSION_REFRESH_TOKEN: 'true' }],
    ['alone', {}],
  ])('refuses a secret under 32 bytes %s, and never repeats it', (_label, env) => {
    for (const secret of ['hunter2', 'x'.repeat(31), 'é'.repeat(15) + 'a']) {
      const error = configError({ ...env, SESSION_JWT_SECRET: secret });
      expect(error.variable).toBe('SESSION_JWT_SECRET');
      expect(error.message).toBe(`SESSION_JWT_SECRET: got a ${Buffer.byteLength(secret)}-byte secret; expected at least 32 bytes (openssl rand -base64 48).`);
      expect(`${error.message}\n${error.stack}\n${JSON.stringify(error)}`).not.toContain(secret);
    }
  });

  it('counts the secret in bytes: 16 two-byte characters are enough', () => {
    const config = readDemoConfig({ SESSION_TOKEN_TYPE: 'jwt', SESSION_JWT_SECRET: 'é'.repeat(16) });
    expect(config.session.jwt).toEqual({ algorithm: 'HS256', keys: [{ kid: 'demo', secret: 'é'.repeat(16) }] });
  });

  it('maps every variable onto the module options', () => {
    const config = readDemoConfig({
      SESSION_TOKEN_TYPE: 'jwt',
      SESSION_JWT_SECRET: SECRET,
      SESSION_REFRESH_TOKEN: 'true',
      SESSION_MAX_PER_USER: '3',
      SESSION_BIND_USER_AGENT: 'true',
    });
    expect(config.session).toMatchObject({
      tokenType: 'jwt',
      jwt: { algorithm: 'HS256', keys: [{ kid: 'demo', secret: SECRET }] },
      refreshToken: { secret: SECRET },
      maxSessionsPerUser: 3,
      bindToUserAgent: true,
    });
  });

  it('defaults to opaque tokens, no refresh tokens, no session limit and no user-agent binding', () => {
    const { session } = readDemoConfig({});
    expect(session).toMatchObject({ tokenType: 'opaque', refreshToken: false, bindToUserAgent: false });
    expect(session.jwt).toBeUndefined();
    expect(session.maxSessionsPerUser).toBeUndefined();
  });

  it('names the variable behind each option the library can refuse', () => {
    expect(SESSION_OPTION_VARIABLES).toMatchObject({
      tokenType: 'SESSION_TOKEN_TYPE',
      'jwt.keys[0].secret': 'SESSION_JWT_SECRET',
      refreshToken: 'SESSION_REFRESH_TOKEN',
      'refreshToken.secret': 'SESSION_JWT_SECRET',
      maxSessionsPerUser: 'SESSION_MAX_PER_USER',
      bindToUserAgent: 'SESSION_BIND_USER_AGENT',
    });
  });

  describe('refused by the library', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('nss_demo_sec_cfg');
    });
    afterAll(async () => {
      await db?.drop();
    });

    it('reports a session limit over the library\'s bound with SESSION_MAX_PER_USER', async () => {
      const config = readDemoConfig({ SESSION_MAX_PER_USER: '20000' });
      let app: INestApplication | undefined;
      try {
        app = await createDemoApp({ databaseUrl: db.url, session: { ...config.session, cleanup: false } });
      } catch (error) {
        expect(error).toBeInstanceOf(SessionOptionsError);
        const option = (error as SessionOptionsError).option;
        expect(option).toBe('maxSessionsPerUser');
        expect(SESSION_OPTION_VARIABLES[option]).toBe('SESSION_MAX_PER_USER');
        expect((error as Error).message).toContain('got 20000; expected a whole number from 1 to 10000.');
        return;
      } finally {
        await app?.close();
      }
      throw new Error('the app started with SESSION_MAX_PER_USER=20000');
    });
  });
});

describe.each<HttpAdapterName>(['express', 'fastify'])('demo security options on %s', (adapter) => {
  let seq = 0;

  /** One demo app built from `env` through readDemoConfig, on its own database. */
  function demo(env: NodeJS.ProcessEnv, clock?: TestClock) {
    const state = {} as { db: TestDatabase; app: INestApplication; base: string };
    beforeAll(async () => {
      state.db = await createTestDatabase(`nss_demo_sec_${adapter}`);
      const { session } = readDemoConfig(env);
      state.app = await createDemoApp({ databaseUrl: state.db.url, session: { ...session, cleanup: false, ...(clock ? { clock: clock.now } : {}) } }, adapter);
      state.base = await listen(state.app);
    });
    afterAll(async () => {
      await state.app?.close();
      await state.db?.drop();
    });
    const http = () => request(state.base);
    const register = async () => {
      const email = `sec${++seq}@example.test`;
      await http().post('/auth/register').send({ email, password: PASSWORD }).expect(201);
      return { id: await userIdOf(state.db.url, email), email };
    };
    const login = async (user: { email: string }, userAgent?: string) => {
      const req = http().post('/auth/login').send({ email: user.email, password: PASSWORD });
      if (userAgent !== undefined) req.set('User-Agent', userAgent);
      const res = await req.expect(200);
      return { ...(res.body as { token: string; expiresAt: string; refreshToken?: string; refreshExpiresAt?: string }), res };
    };
    const bearer = (token: string, userAgent?: string) => ({ Authorization: `Bearer ${token}`, ...(userAgent === undefined ? {} : { 'User-Agent': userAgent }) });
    return { http, register, login, bearer };
  }

  describe('SESSION_REFRESH_TOKEN=true', () => {
    const clock = new TestClock(Date.now());
    const { http, register, login, bearer } = demo({ SESSION_REFRESH_TOKEN: 'true', SESSION_JWT_SECRET: SECRET }, clock);
    const refresh = (refreshToken: unknown) => http().post('/auth/refresh').send({ refreshToken });

    it('login answers a 15-minute session token and a 30-day refresh token', async () => {
      const { token, expiresAt, refreshToken, refreshExpiresAt, res } = await login(await register());
      expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'refreshExpiresAt', 'refreshToken', 'token']);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(refreshToken).toMatch(/^[A-Za-z0-9_-]{60,}$/);
      expect(new Date(expiresAt).getTime()).toBe(clock.now() + 15 * MINUTE);
      expect(new Date(refreshExpiresAt!).getTime()).toBe(clock.now() + 30 * DAY);
      expect(setCookie(res.headers, COOKIE)).toMatchObject({ value: token, attributes: { 'max-age': '900', httponly: true } });
    });

    it('POST /auth/refresh trades the pair for a new one, sets the cookie to the new token, and kills the old token', async () => {
      const user = await register();
      const first = await login(user);
      clock.advance(MINUTE);
      const res = await refresh(first.refreshToken).expect(200);
      expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'refreshExpiresAt', 'refreshToken', 'token']);
      const next = res.body as { token: string; refreshToken: string; expiresAt: string; refreshExpiresAt: string };
      expect(next.token).not.toBe(first.token);
      expect(next.refreshToken).not.toBe(first.refreshToken);
      expect(new Date(next.expiresAt).getTime()).toBe(nearestSecond(clock.now()) + 15 * MINUTE);
      expect(new Date(next.refreshExpiresAt).getTime()).toBe(clock.now() + 30 * DAY);
      const cookie = setCookie(res.headers, COOKIE)!;
      expect(cookie).toMatchObject({ value: next.token, attributes: { 'max-age': '900', httponly: true } });

      expect((await http().get('/me').set('Cookie', `${COOKIE}=${cookie.value}`).expect(200)).body).toMatchObject({ id: user.id });
      await http().get('/me').set(bearer(first.token)).expect(401);
      // Still one login: the refresh renewed it rather than adding a session.
      const sessions = await http().get('/sessions').set(bearer(next.token)).expect(200);
      expect(sessions.body).toHaveLength(1);
    });

    it('a replayed refresh token answers 401 and ends the login: the pair it was traded for dies too', async () => {
      const user = await register();
      const first = await login(user);
      const other = await login(user);
      const next = (await refresh(first.refreshToken).expect(200)).body as { token: string; refreshToken: string };
      await http().get('/me').set(bearer(next.token)).expect(200);
      // Within the grace, a retry: the same pair again, nothing ended.
      expect((await refresh(first.refreshToken).expect(200)).body).toMatchObject({ token: next.token, refreshToken: next.refreshToken });
      await http().get('/me').set(bearer(next.token)).expect(200);

      clock.advance(REFRESH_GRACE + 1);
      const replay = await refresh(first.refreshToken).expect(401);
      expect(replay.body).toEqual(UNAUTHORIZED);
      expect(replay.headers['set-cookie']).toBeUndefined();
      await http().get('/me').set(bearer(next.token)).expect(401);
      expect((await refresh(next.refreshToken).expect(401)).body).toEqual(UNAUTHORIZED);
      // Only that login: the user's other session goes on.
      await http().get('/me').set(bearer(other.token)).expect(200);
      await refresh(other.refreshToken).expect(200);
    });

    it('answers the generic 401 for an unknown, forged or session token, and a forgery revokes nothing', async () => {
      const user = await register();
      const { token, refreshToken } = await login(user);
      const forged = refreshToken!.slice(0, 20) + (refreshToken![20] === 'A' ? 'B' : 'A') + refreshToken!.slice(21);
      for (const candidate of [randomBytes(93).toString('base64url'), forged, token, `${refreshToken}A`, '']) {
        expect((await refresh(candidate).expect(401)).body).toEqual(UNAUTHORIZED);
      }
      await http().get('/me').set(bearer(token)).expect(200);
      await refresh(refreshToken).expect(200);
    });

    it.each<[string, object]>([
      ['no body', {}],
      ['a number', { refreshToken: 42 }],
      ['a list', { refreshToken: ['a'] }],
      ['an extra field', { refreshToken: 'abc', userId: '1' }],
    ])('answers 400 for %s', async (_label, body) => {
      const res = await http().post('/auth/refresh').send(body).expect(400);
      expect(res.body.statusCode).toBe(400);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    it('the session token dies after 15 minutes while the refresh token still renews the login', async () => {
      const user = await register();
      const { token, refreshToken } = await login(user);
      clock.advance(15 * MINUTE);
      expect((await http().get('/me').set(bearer(token)).expect(401)).body).toEqual(UNAUTHORIZED);
      const next = (await refresh(refreshToken).expect(200)).body as { token: string };
      expect((await http().get('/me').set(bearer(next.token)).expect(200)).body).toMatchObject({ id: user.id });
    });

    it('an expired refresh token answers 401', async () => {
      const { refreshToken, refreshExpiresAt } = await login(await register());
      clock.set(new Date(refreshExpiresAt!).getTime());
      expect((await refresh(refreshToken).expect(401)).body).toEqual(UNAUTHORIZED);
    });

    it('logout ends the login: its refresh token is refused afterwards', async () => {
      const { token, refreshToken } = await login(await register());
      await http().post('/auth/logout').set(bearer(token)).expect(204);
      await http().get('/me').set(bearer(token)).expect(401);
      await refresh(refreshToken).expect(401);
    });
  });

  describe('SESSION_TOKEN_TYPE=jwt', () => {
    const { http, register, login, bearer } = demo({ SESSION_TOKEN_TYPE: 'jwt', SESSION_JWT_SECRET: SECRET });

    it('login answers a signed JWT naming the user and session, also set as the cookie', async () => {
      const user = await register();
      const { token, expiresAt, res } = await login(user);
      expect(token.split('.')).toHaveLength(3);
      expect(jwtPart(token, 0)).toMatchObject({ alg: 'HS256', kid: 'demo', typ: 'JWT' });
      const claims = jwtPart(token, 1);
      expect(claims).toMatchObject({ sub: user.id, sid: expect.stringMatching(/^\d+$/), exp: Math.floor(new Date(expiresAt).getTime() / 1000) });
      expect(setCookie(res.headers, COOKIE)?.value).toBe(token);
      expect(res.body.refreshToken).toBeUndefined();

      const sessions = await http().get('/sessions').set(bearer(token)).expect(200);
      expect(sessions.body.find((s: { current: boolean }) => s.current).id).toBe(claims.sid);
    });

    it('GET /me answers for the bearer JWT and for the cookie', async () => {
      const user = await register();
      const { token } = await login(user);
      expect((await http().get('/me').set(bearer(token)).expect(200)).body).toMatchObject({ id: user.id, email: user.email });
      expect((await http().get('/me').set('Cookie', `${COOKIE}=${token}`).expect(200)).body).toMatchObject({ id: user.id, email: user.email });
    });

    it('refuses a tampered JWT, and the opaque token inside one on its own', async () => {
      const victim = await register();
      const mallory = await register();
      const { token } = await login(mallory);
      const [header, payload, signature] = token.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      const tampered = [header, Buffer.from(JSON.stringify({ ...claims, sub: victim.id })).toString('base64url'), signature].join('.');
      expect((await http().get('/me').set(bearer(tampered)).expect(401)).body).toEqual(UNAUTHORIZED);
      await http().get('/me').set('Cookie', `${COOKIE}=${tampered}`).expect(401);
      await http().get('/me').set(bearer(claims.tok)).expect(401);
      await http().get('/me').set(bearer(token)).expect(200);
    });

    it('logout kills the JWT though its signature is still good; logout-all and revoking by id work too', async () => {
      const user = await register();
      const cookieLogin = await login(user);
      const res = await http().post('/auth/logout').set('Cookie', `${COOKIE}=${cookieLogin.token}`).expect(204);
      expect(setCookie(res.headers, COOKIE)).toMatchObject({ value: '', attributes: { 'max-age': '0' } });
      await http().get('/me').set(bearer(cookieLogin.token)).expect(401);

      const laptop = (await login(user)).token;
      const phone = (await login(user)).token;
      const phoneId = jwtPart(phone, 1).sid;
      await http().delete(`/sessions/${phoneId}`).set(bearer(laptop)).expect(204);
      await http().get('/me').set(bearer(phone)).expect(401);
      const tablet = (await login(user)).token;
      await http().post('/auth/logout-all').set(bearer(laptop)).expect(204);
      for (const token of [laptop, tablet]) await http().get('/me').set(bearer(token)).expect(401);
    });

    it('the pages work with the JWT cookie', async () => {
      const user = await register();
      const res = await http().post('/login').type('form').send({ email: user.email, password: PASSWORD }).expect(303);
      const cookie = setCookie(res.headers, COOKIE)!;
      expect(cookie.value.split('.')).toHaveLength(3);
      const account = await http().get('/account').set('Cookie', `${COOKIE}=${cookie.value}`).expect(200);
      expect(account.text).toContain(`<strong id="email">${user.email}</strong>`);
      expect(account.text).toContain('this browser');
      await http().post('/account/logout').set('Cookie', `${COOKIE}=${cookie.value}`).expect(303).expect('Location', '/login');
      await http().get('/account').set('Cookie', `${COOKIE}=${cookie.value}`).expect(303).expect('Location', '/login');
    });
  });

  describe('SESSION_TOKEN_TYPE=jwt with SESSION_REFRESH_TOKEN=true', () => {
    const clock = new TestClock(Date.now());
    const { http, register, login, bearer } = demo({ SESSION_TOKEN_TYPE: 'jwt', SESSION_REFRESH_TOKEN: 'true', SESSION_JWT_SECRET: SECRET }, clock);

    it('refreshes a JWT login into a new JWT, and a replay (past the retry grace) ends it', async () => {
      const user = await register();
      const first = await login(user);
      expect(first.token.split('.')).toHaveLength(3);
      const res = await http().post('/auth/refresh').send({ refreshToken: first.refreshToken }).expect(200);
      const next = res.body as { token: string; refreshToken: string };
      expect(next.token.split('.')).toHaveLength(3);
      expect(jwtPart(next.token, 1)).toMatchObject({ sub: user.id, sid: jwtPart(first.token, 1).sid });
      expect(setCookie(res.headers, COOKIE)?.value).toBe(next.token);
      await http().get('/me').set(bearer(first.token)).expect(401);
      await http().get('/me').set('Cookie', `${COOKIE}=${next.token}`).expect(200);

      clock.advance(REFRESH_GRACE + 1);
      await http().post('/auth/refresh').send({ refreshToken: first.refreshToken }).expect(401);
      await http().get('/me').set(bearer(next.token)).expect(401);
      await http().post('/auth/refresh').send({ refreshToken: next.refreshToken }).expect(401);
    });
  });

  describe('SESSION_MAX_PER_USER=2, the admin and the account context', () => {
    const { http, register, login, bearer } = demo({ SESSION_MAX_PER_USER: '2' });
    let admin: { id: string; email: string };
    let member: { id: string; email: string };
    beforeAll(async () => {
      // The first user to register in this database is the demo's admin.
      admin = await register();
      member = await register();
    });

    it('a third login evicts the oldest session; the second and third go on', async () => {
      const first = (await login(member)).token;
      const second = (await login(member)).token;
      await http().get('/me').set(bearer(first)).expect(200);
      const third = (await login(member)).token;
      expect((await http().get('/me').set(bearer(first)).expect(401)).body).toEqual(UNAUTHORIZED);
      await http().get('/me').set(bearer(second)).expect(200);
      await http().get('/me').set(bearer(third)).expect(200);
      const sessions = await http().get('/sessions').set(bearer(third)).expect(200);
      expect(sessions.body.map((s: { current: boolean }) => s.current)).toEqual([true, false]);
      // Another user's logins count against their own limit only.
      await http().get('/me').set(bearer((await login(admin)).token)).expect(200);
      await http().get('/me').set(bearer(second)).expect(200);
    });

    it('GET /me answers the account context cached with the session', async () => {
      const adminMe = await http().get('/me').set(bearer((await login(admin)).token)).expect(200);
      expect(adminMe.body).toEqual({
        id: admin.id,
        email: admin.email,
        context: { admin: true, permissions: ['admin'], sessions: { max: 2 }, memberSince: expect.any(String) },
      });
      const memberMe = await http().get('/me').set(bearer((await login(member)).token)).expect(200);
      expect(memberMe.body).toEqual({
        id: member.id,
        email: member.email,
        context: { admin: false, permissions: [], sessions: { max: 2 }, memberSince: expect.any(String) },
      });
      const joined = [adminMe.body.context.memberSince, memberMe.body.context.memberSince].map((d: string) => new Date(d).getTime());
      expect(Math.abs(Date.now() - joined[0])).toBeLessThan(60_000);
      expect(joined[0]).toBeLessThanOrEqual(joined[1]);
    });

    it('GET /admin answers the first user, 403 to the second, 401 to no one', async () => {
      const res = await http().get('/admin').set(bearer((await login(admin)).token)).expect(200);
      expect(res.body).toEqual({ users: 2 });
      const refused = await http().get('/admin').set(bearer((await login(member)).token)).expect(403);
      expect(refused.body).toEqual(FORBIDDEN);
      expect((await http().get('/admin').expect(401)).body).toEqual(UNAUTHORIZED);
      // A user registered later is no admin either.
      const later = await register();
      await http().get('/admin').set(bearer((await login(later)).token)).expect(403);
    });
  });

  describe('SESSION_BIND_USER_AGENT=true', () => {
    const { http, register, login, bearer } = demo({ SESSION_BIND_USER_AGENT: 'true', SESSION_REFRESH_TOKEN: 'true', SESSION_JWT_SECRET: SECRET });

    it('a token works only from the browser it was issued to, whatever its version number', async () => {
      const user = await register();
      const { token } = await login(user, CHROME_120);
      expect((await http().get('/me').set(bearer(token, FIREFOX)).expect(401)).body).toEqual(UNAUTHORIZED);
      await http().get('/me').set('Cookie', `${COOKIE}=${token}`).set('User-Agent', FIREFOX).expect(401);
      await http().get('/me').set(bearer(token)).expect(401);
      expect((await http().get('/me').set(bearer(token, CHROME_120)).expect(200)).body).toMatchObject({ id: user.id });
      await http().get('/me').set('Cookie', `${COOKIE}=${token}`).set('User-Agent', CHROME_121).expect(200);
      await http().get('/me').set(bearer(token, CHROME_121)).expect(200);
    });

    it('a login without a User-Agent is bound to having none', async () => {
      const { token } = await login(await register());
      await http().get('/me').set(bearer(token)).expect(200);
      await http().get('/me').set(bearer(token, CHROME_120)).expect(401);
    });

    it('logout, logout-all and the session list work with bound tokens', async () => {
      const user = await register();
      const { token } = await login(user, CHROME_120);
      // From another browser the guard refuses it, and the session goes on.
      await http().post('/auth/logout').set(bearer(token, FIREFOX)).expect(401);
      await http().get('/me').set(bearer(token, CHROME_120)).expect(200);
      await http().post('/auth/logout').set(bearer(token, CHROME_121)).expect(204);
      await http().get('/me').set(bearer(token, CHROME_120)).expect(401);

      const laptop = (await login(user, CHROME_120)).token;
      const phone = (await login(user, FIREFOX)).token;
      const sessions = await http().get('/sessions').set(bearer(phone, FIREFOX)).expect(200);
      expect(sessions.body).toHaveLength(2);
      await http().post('/auth/logout-all').set(bearer(phone, FIREFOX)).expect(204);
      await http().get('/me').set(bearer(laptop, CHROME_120)).expect(401);
      await http().get('/me').set(bearer(phone, FIREFOX)).expect(401);
    });

    it('a refresh token from another browser is refused without ending the login', async () => {
      const user = await register();
      const { refreshToken } = await login(user, CHROME_120);
      const refused = await http().post('/auth/refresh').set('User-Agent', FIREFOX).send({ refreshToken }).expect(401);
      expect(refused.body).toEqual(UNAUTHORIZED);
      const res = await http().post('/auth/refresh').set('User-Agent', CHROME_121).send({ refreshToken }).expect(200);
      await http().get('/me').set(bearer(res.body.token, CHROME_121)).expect(200);
      await http().get('/me').set(bearer(res.body.token, FIREFOX)).expect(401);
    });

    it('the pages work with a bound cookie, in that browser only', async () => {
      const user = await register();
      const res = await http().post('/login').set('User-Agent', CHROME_120).type('form').send({ email: user.email, password: PASSWORD }).expect(303);
      const cookie = `${COOKIE}=${setCookie(res.headers, COOKIE)!.value}`;
      const account = await http().get('/account').set('Cookie', cookie).set('User-Agent', CHROME_120).expect(200);
      expect(account.text).toContain(`<strong id="email">${user.email}</strong>`);
      await http().get('/account').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(303).expect('Location', '/login');
      await http().post('/account/logout').set('Cookie', cookie).set('User-Agent', CHROME_120).expect(303).expect('Location', '/login');
      await http().get('/account').set('Cookie', cookie).set('User-Agent', CHROME_120).expect(303).expect('Location', '/login');
    });
  });
});
