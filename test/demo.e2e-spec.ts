import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase, userIdOf } from './support/database.js';
import { listen, setCookie } from './support/http.js';

const MINUTE = 60_000;
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const METRICS_TOKEN = 'a'.repeat(16) + Math.random().toString(36).slice(2).padEnd(16, 'b');
// Registering answers this whether the email was free or not (no enumeration).
const REGISTERED = { message: 'If that email was not registered yet, it is now: log in with it.' };

describe.each<HttpAdapterName>(['express', 'fastify'])('demo app on %s', (adapter) => {
  let db: TestDatabase;
  let app: INestApplication;
  let base: string;
  const clock = new TestClock(Date.now());
  let seq = 0;

  beforeAll(async () => {
    db = await createTestDatabase(`nss_demo_${adapter}`);
    app = await createDemoApp(
      { databaseUrl: db.url, metricsToken: METRICS_TOKEN, session: { maxAge: '1h', updateAge: '10m', storeTimeout: '500ms', clock: clock.now } },
      adapter,
    );
    base = await listen(app);
  });
  afterAll(async () => {
    await app?.close();
    await db?.drop();
  });

  const http = () => request(base);
  const email = () => `user${++seq}@Example.test`;

  async function register(address = email(), password = 'correct horse battery') {
    await http().post('/auth/register').send({ email: address, password }).expect(201);
    return { id: await userIdOf(db.url, address), email: address.toLowerCase(), password };
  }

  /** What GET /me answers for a user who is not the admin (the first user of this file is). */
  const me = (user: { id: string; email: string }) => ({
    id: user.id,
    email: user.email,
    context: { admin: false, permissions: [], sessions: { max: null }, memberSince: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
  });

  async function login(user: { email: string; password: string }, cookie?: string) {
    const req = http().post('/auth/login').send({ email: user.email, password: user.password });
    if (cookie) req.set('Cookie', cookie);
    const res = await req.expect(200);
    return { token: res.body.token as string, expiresAt: res.body.expiresAt as string, res };
  }

  describe('POST /auth/register', () => {
    it('creates a user: 201 with the generic answer, never the password; the email lower-cased', async () => {
      const res = await http().post('/auth/register').send({ email: 'Reg@Example.test', password: 'correct horse battery' }).expect(201);
      expect(res.body).toEqual(REGISTERED);
      expect(await userIdOf(db.url, 'reg@example.test')).toMatch(/^[0-9a-f-]{36}$/);
      await login({ email: 'REG@example.TEST', password: 'correct horse battery' });
    });

    it('answers a taken email, whatever its case, as a new one, and keeps its password', async () => {
      const user = await register();
      const res = await http().post('/auth/register').send({ email: user.email.toUpperCase(), password: 'another password' }).expect(201);
      expect(res.body).toEqual(REGISTERED);
      await http().post('/auth/login').send({ email: user.email, password: 'another password' }).expect(401);
      await login(user);
    });

    it.each([
      [{ email: 'not-an-email', password: 'correct horse battery' }, ['email must be an email address']],
      [{ email: 'a@example.test', password: 'short' }, ['password must be at least 8 characters']],
      [{ email: 'a@example.test', password: 'x'.repeat(129) }, ['password must be at most 128 characters']],
      [{ password: 'correct horse battery' }, ['email must be an email address']],
      [{ email: 'a@example.test', password: 'correct horse battery', admin: true }, ['property admin should not exist']],
    ])('answers 400 with the field errors for %p', async (body, messages) => {
      const res = await http().post('/auth/register').send(body).expect(400);
      expect(res.body.message).toEqual(expect.arrayContaining(messages));
    });
  });

  describe('POST /auth/login', () => {
    it('answers the token and its expiry, and sets the session cookie with the safe attributes', async () => {
      const user = await register();
      const { token, expiresAt, res } = await login(user);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(new Date(expiresAt).getTime()).toBe(clock.now() + 60 * MINUTE);

      const cookie = setCookie(res.headers)!;
      expect(cookie.value).toBe(token);
      expect(cookie.attributes).toMatchObject({ path: '/', httponly: true, secure: true, samesite: 'Lax', 'max-age': '3600' });
      expect(cookie.attributes.domain).toBeUndefined();
      expect(new Date(cookie.attributes.expires as string).getTime()).toBe(clock.now() + 60 * MINUTE - (clock.now() % 1000));
    });

    it('answers no refresh token while refresh tokens are off, and POST /auth/refresh does not exist', async () => {
      const { res } = await login(await register());
      expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token']);
      const refresh = await http().post('/auth/refresh').send({ refreshToken: 'x'.repeat(40) }).expect(404);
      expect(refresh.body).toMatchObject({ statusCode: 404 });
    });

    it('answers the same 401 for a wrong password and an unknown email', async () => {
      const user = await register();
      const wrong = await http().post('/auth/login').send({ email: user.email, password: 'wrong password!' }).expect(401);
      const unknown = await http().post('/auth/login').send({ email: 'nobody@example.test', password: 'wrong password!' }).expect(401);
      expect(wrong.body).toEqual(unknown.body);
      expect(wrong.headers['set-cookie']).toBeUndefined();
    });

    it('answers 400 for a body that is not two strings', async () => {
      const res = await http().post('/auth/login').send({ email: 'nope' }).expect(400);
      expect(res.body.message).toEqual(expect.arrayContaining(['password must be a string', 'password should not be empty']));
      await http().post('/auth/login').send({ email: ['a@example.test'], password: 'x' }).expect(400);
    });

    it('never adopts a token the client brought: a planted session ends, a new one starts', async () => {
      const attacker = await register();
      const victim = await register();
      const planted = (await login(attacker)).token;

      const { token } = await login(victim, `session=${planted}`);
      expect(token).not.toBe(planted);
      await http().get('/me').set('Authorization', `Bearer ${planted}`).expect(401);
      const res = await http().get('/me').set('Cookie', `session=${token}`).expect(200);
      expect(res.body).toEqual(me(victim));

      const forged = 'A'.repeat(43);
      const again = await login(victim, `session=${forged}`);
      expect(again.token).not.toBe(forged);
    });
  });

  describe('GET /me', () => {
    it('answers the user for a session cookie and for a bearer token', async () => {
      const user = await register();
      const { token } = await login(user);
      expect((await http().get('/me').set('Cookie', `other=1; session=${token}`).expect(200)).body).toEqual(me(user));
      expect((await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200)).body).toEqual(me(user));
    });

    it.each([
      ['no token', {}],
      ['a malformed cookie', { Cookie: 'session=%00garbage' }],
      ['an unknown token', { Authorization: `Bearer ${'Q'.repeat(43)}` }],
      ['a Basic header', { Authorization: 'Basic dXNlcjpwYXNz' }],
    ])('answers a generic 401 for %s', async (_label, headers) => {
      const res = await http().get('/me').set(headers).expect(401);
      expect(res.body).toEqual(UNAUTHORIZED);
    });

    it('re-sends the cookie when the expiry slides, and only to cookie clients', async () => {
      const user = await register();
      const { token } = await login(user);
      const start = clock.now();
      try {
        clock.set(start + 5 * MINUTE);
        const early = await http().get('/me').set('Cookie', `session=${token}`).expect(200);
        expect(early.headers['set-cookie']).toBeUndefined();

        clock.set(start + 20 * MINUTE);
        const slid = await http().get('/me').set('Cookie', `session=${token}`).expect(200);
        expect(setCookie(slid.headers)).toMatchObject({ value: token, attributes: { 'max-age': '3600' } });

        clock.set(start + 40 * MINUTE);
        const bearer = await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200);
        expect(bearer.headers['set-cookie']).toBeUndefined();
      } finally {
        clock.set(start);
      }
    });
  });

  describe('sessions', () => {
    it('GET /sessions lists the caller\'s sessions and marks the current one', async () => {
      const user = await register();
      const first = await login(user);
      const second = await login(user);
      await login(await register());
      const res = await http().get('/sessions').set('Authorization', `Bearer ${second.token}`).expect(200);
      expect(res.body).toHaveLength(2);
      expect(res.body.map((s: { current: boolean }) => s.current)).toEqual([true, false]);
      expect(res.body[0]).toEqual({ id: expect.any(String), createdAt: expect.any(String), expiresAt: expect.any(String), deviceBound: false, current: true });
      expect(first.token).not.toBe(second.token);
    });

    it('DELETE /sessions/:id revokes the caller\'s own session, and 404s for anyone else\'s', async () => {
      const alice = await register();
      const mallory = await register();
      const aliceLaptop = await login(alice);
      const alicePhone = await login(alice);
      const malloryToken = (await login(mallory)).token;
      const sessions = await http().get('/sessions').set('Authorization', `Bearer ${aliceLaptop.token}`).expect(200);
      const phoneId = sessions.body.find((s: { current: boolean }) => !s.current).id;

      await http().delete(`/sessions/${phoneId}`).set('Authorization', `Bearer ${malloryToken}`).expect(404);
      await http().get('/me').set('Authorization', `Bearer ${alicePhone.token}`).expect(200);
      await http().delete('/sessions/not-a-number').set('Authorization', `Bearer ${aliceLaptop.token}`).expect(404);

      await http().delete(`/sessions/${phoneId}`).set('Authorization', `Bearer ${aliceLaptop.token}`).expect(204);
      await http().get('/me').set('Authorization', `Bearer ${alicePhone.token}`).expect(401);
      await http().get('/me').set('Authorization', `Bearer ${aliceLaptop.token}`).expect(200);
    });
  });

  describe('logout', () => {
    it('POST /auth/logout kills the token and clears the cookie', async () => {
      const user = await register();
      const { token } = await login(user);
      const res = await http().post('/auth/logout').set('Cookie', `session=${token}`).expect(204);
      const cleared = setCookie(res.headers)!;
      expect(cleared).toMatchObject({ value: '', attributes: { 'max-age': '0', path: '/' } });
      await http().get('/me').set('Cookie', `session=${token}`).expect(401);
      await http().post('/auth/logout').set('Cookie', `session=${token}`).expect(401);
    });

    it('POST /auth/logout-all kills every session of the caller and no one else\'s', async () => {
      const user = await register();
      const other = await register();
      const tokens = [(await login(user)).token, (await login(user)).token, (await login(user)).token];
      const othersToken = (await login(other)).token;
      await http().post('/auth/logout-all').set('Authorization', `Bearer ${tokens[0]}`).expect(204);
      for (const token of tokens) await http().get('/me').set('Authorization', `Bearer ${token}`).expect(401);
      await http().get('/me').set('Authorization', `Bearer ${othersToken}`).expect(200);
    });
  });

  describe('when the store fails', () => {
    it('answers 503, not 401, once a store call exceeds its timeout, and recovers', async () => {
      const user = await register();
      const { token } = await login(user);
      const locker = new pg.Client({ connectionString: db.url });
      await locker.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
        const started = Date.now();
        const res = await http().get('/me').set('Authorization', `Bearer ${token}`).expect(503);
        expect(Date.now() - started).toBeLessThan(3_000);
        expect(res.body).toEqual({ statusCode: 503, message: 'Service Unavailable' });
        await locker.query('ROLLBACK');
        await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200);
      } finally {
        await locker.end();
      }
    });

    it('answers 503 on guarded routes and /health while the database refuses connections, then recovers', async () => {
      const user = await register();
      const { token } = await login(user);
      await http().get('/health').expect(200, { status: 'ok' });
      const admin = new pg.Client({ connectionString: db.url.replace(`/${db.name}`, '/postgres') });
      await admin.connect();
      try {
        await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
        await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name]);
        const res = await http().get('/me').set('Authorization', `Bearer ${token}`).expect(503);
        expect(res.body).toEqual({ statusCode: 503, message: 'Service Unavailable' });
        await http().get('/health').expect(503);
      } finally {
        await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);
        await admin.end();
      }
      expect((await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200)).body).toEqual(me(user));
      await http().get('/health').expect(200);
    });
  });

  describe('GET /metrics', () => {
    it('exposes the session metrics in the Prometheus text format, and they move', async () => {
      const count = async () => {
        const res = await http().get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`).expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        const line = res.text.split('\n').find((l) => l.startsWith('sessions_created_total '));
        return Number(line!.split(' ')[1]);
      };
      const before = await count();
      await login(await register());
      expect(await count()).toBe(before + 1);
    });
  });

  describe('pages', () => {
    it('GET /login is an HTML form; GET /account without a session goes to it', async () => {
      const page = await http().get('/login').expect(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.text).toContain('<form class="stack" method="post" action="/login">');
      await http().get('/account').expect(303).expect('Location', '/login');
    });

    it('logs in through the form and shows the account, escaping what the user typed', async () => {
      const user = await register(`o'brien+${++seq}@example.test`);
      const res = await http().post('/login').type('form').send({ email: user.email, password: user.password }).expect(303);
      expect(res.headers.location).toBe('/account');
      const cookie = setCookie(res.headers)!;
      const account = await http().get('/account').set('Cookie', `session=${cookie.value}`).expect(200);
      expect(account.text).toContain(`<strong id="email">${user.email.replace("'", '&#39;')}</strong>`);
      expect(account.text).toContain('this browser');

      const wrong = await http().post('/login').type('form').send({ email: user.email, password: 'wrong password!' }).expect(401);
      expect(wrong.text).toContain('Invalid email or password.');
    });
  });
});
