import { randomBytes, scryptSync } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import pg from 'pg';
import { Gauge, register as registry } from 'prom-client';
import request from 'supertest';
import { createDemoApp, type HttpAdapterName } from '../sample/app.js';
import type { DemoAppOptions } from '../sample/app.module.js';
import { readDemoConfig } from '../sample/config.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen, setCookie } from './support/http.js';

// Issue 18, the demo's part: login throttling (per email and per address), /metrics behind a
// token, helmet on the pages, a login that never applies the registration policy, registration
// that does not tell who has an account, and scrypt hashes upgraded at login. The demo is built
// from readDemoConfig as `npm start` builds it; the counters here are the in-memory ones, on the
// demo's session clock, so a 15-minute window passes without waiting (Redis: demo-throttle-redis).

const MINUTE = 60_000;
const PASSWORD = 'correct horse battery';
const TOKEN = randomBytes(32).toString('base64url');
const TOO_MANY = { statusCode: 429, message: 'Too many login attempts; try again later.' };
const UNAUTHORIZED = { statusCode: 401, message: 'Unauthorized' };
const COOKIE = '__Host-session';

describe.each<HttpAdapterName>(['express', 'fastify'])('demo hardening on %s', (adapter) => {
  // What the adapter takes part in (headers, the request's address and user, the form's error
  // page, the middleware) runs on both; the counting and the password rules, which are the same
  // code whatever the adapter and cost seconds of scrypt each, run on Express.
  const counting = adapter === 'express' ? it : () => undefined;
  const run = randomBytes(3).toString('hex');
  let seq = 0;
  const email = () => `hard${++seq}-${run}@example.test`;

  /** One demo app from `env` (as npm start reads it) and `extra`, on its own database. */
  function demo(env: NodeJS.ProcessEnv, extra: Partial<DemoAppOptions> = {}, clock?: TestClock) {
    const state = {} as { db: TestDatabase; app: INestApplication; base: string };
    beforeAll(async () => {
      state.db = await createTestDatabase(`nss_demo_hard_${adapter}`);
      const config = readDemoConfig(env);
      const session = { ...config.session, cleanup: false as const, ...(clock ? { clock: clock.now } : {}) };
      state.app = await createDemoApp({ databaseUrl: state.db.url, loginThrottle: config.loginThrottle, metricsToken: config.metricsToken, session, ...extra }, adapter);
      state.base = await listen(state.app);
    });
    afterAll(async () => {
      await state.app?.close();
      await state.db?.drop();
    });
    const http = () => request(state.base);
    const register = async (address = email()) => {
      await http().post('/auth/register').send({ email: address, password: PASSWORD }).expect(201);
      return address;
    };
    const login = (address: string, password = PASSWORD) => http().post('/auth/login').send({ email: address, password });
    return { state, http, register, login };
  }

  describe('login throttling per email', () => {
    const clock = new TestClock(Date.now());
    // The per-address limit is off here: this block makes more attempts from 127.0.0.1 than it allows.
    const { http, register, login } = demo({ LOGIN_IP_LIMIT: 'off' }, {}, clock);

    it('after 10 failures for one email, 429 with Retry-After even with the right password, on every login route, until the window passes', async () => {
      const victim = await register();
      const bystander = await register();
      for (let i = 0; i < 10; i++) expect((await login(victim, `wrong password ${i}`).expect(401)).body).toMatchObject({ statusCode: 401 });

      const locked = await login(victim).expect(429);
      expect(locked.body).toEqual(TOO_MANY);
      expect(locked.headers['retry-after']).toBe(String(15 * 60));
      expect(locked.headers['set-cookie']).toBeUndefined();
      // No counts for an attacker to read.
      expect(Object.keys(locked.headers).filter((h) => h.startsWith('x-ratelimit'))).toEqual([]);
      // The same count behind the HTML form, whatever the case of the address.
      const form = await http().post('/login').type('form').send({ email: victim.toUpperCase(), password: PASSWORD }).expect(429);
      expect(form.text).toContain('Too many login attempts; try again later.');
      expect(form.headers['retry-after']).toBe(String(15 * 60));

      // Another email is not affected.
      await login(bystander).expect(200);

      clock.advance(10 * MINUTE);
      expect((await login(victim).expect(429)).headers['retry-after']).toBe(String(5 * 60));
      clock.advance(5 * MINUTE - 1_000);
      expect((await login(victim).expect(429)).headers['retry-after']).toBe('1');
      clock.advance(1_000);
      await login(victim).expect(200);
    });

    counting('a success does not count, and does not wipe the failures before it', async () => {
      const user = await register();
      for (let i = 0; i < 9; i++) await login(user, 'wrong password!').expect(401);
      // Logins that succeed never lock their user out...
      for (let i = 0; i < 3; i++) await login(user).expect(200);
      // ...and leave the attacker's nine in place: one more failure, then the lock.
      await login(user, 'wrong password!').expect(401);
      await login(user).expect(429);
    });

    counting('counts before the password is checked: of 30 concurrent guesses, exactly 10 are tried', async () => {
      const user = await register();
      const statuses = await Promise.all(Array.from({ length: 30 }, (_, i) => login(user, `guess ${i}`).then((r) => r.status)));
      expect(statuses.filter((s) => s === 401)).toHaveLength(10);
      expect(statuses.filter((s) => s === 429)).toHaveLength(20);
    });

    counting('an unknown email locks the same way: a 429 says nothing of who has an account', async () => {
      const nobody = email();
      for (let i = 0; i < 10; i++) await login(nobody, 'wrong password!').expect(401);
      expect((await login(nobody).expect(429)).body).toEqual(TOO_MANY);
    });

    it('re-authentication counts against the same email, and a lock stops it too', async () => {
      const user = await register();
      const token = (await login(user).expect(200)).body.token as string;
      const reauth = (password: string) => http().post('/auth/reauthenticate').set('Authorization', `Bearer ${token}`).send({ password });
      await reauth(PASSWORD).expect(204);
      for (let i = 0; i < 5; i++) expect((await reauth('wrong password!').expect(401)).body).toEqual(UNAUTHORIZED);
      for (let i = 0; i < 5; i++) await login(user, 'wrong password!').expect(401);
      const locked = await reauth(PASSWORD).expect(429);
      expect(locked.headers['retry-after']).toMatch(/^\d+$/);
      await login(user).expect(429);
      // The session itself goes on: the lock is on passwords, not on the user.
      await http().get('/me').set('Authorization', `Bearer ${token}`).expect(200);
    });

    counting('a body that is not two strings is a 400 and counts nothing', async () => {
      const user = await register();
      for (let i = 0; i < 12; i++) await http().post('/auth/login').send({ email: user, password: 42 }).expect(400);
      await login(user).expect(200);
    });
  });

  describe('login throttling per address', () => {
    const { http, register, login } = demo({ LOGIN_IP_LIMIT: '5', COOKIE_SECURE: 'false' });

    it('past LOGIN_IP_LIMIT attempts from one address, any email answers 429, successes counted too', async () => {
      const user = await register();
      await login(user).expect(200);
      for (let i = 0; i < 4; i++) await login(email(), 'wrong password!').expect(401);
      const refused = await login(user).expect(429);
      expect(refused.body).toEqual(TOO_MANY);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(14 * 60);
      await http().post('/login').type('form').send({ email: email(), password: PASSWORD }).expect(429);
    });

    it('with COOKIE_SECURE=false the pages keep helmet\'s headers but send no HSTS', async () => {
      const page = await http().get('/login').expect(200);
      expect(page.headers['x-content-type-options']).toBe('nosniff');
      expect(page.headers['strict-transport-security']).toBeUndefined();
    });
  });

  describe('GET /metrics', () => {
    describe('without METRICS_TOKEN', () => {
      const { http } = demo({});
      it('does not exist', async () => {
        await http().get('/metrics').expect(404);
        await http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(404);
      });
    });

    describe('with METRICS_TOKEN', () => {
      const { state, http, register, login } = demo({ METRICS_TOKEN: TOKEN });
      const scrape = () => http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`);

      it('answers 200 while the database refuses connections: the live count is bounded, and the route with it', async () => {
        const admin = new pg.Client({ connectionString: state.db.url.replace(`/${state.db.name}`, '/postgres') });
        await admin.connect();
        try {
          await admin.query(`ALTER DATABASE "${state.db.name}" ALLOW_CONNECTIONS false`);
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [state.db.name]);
          const started = Date.now();
          const res = await scrape().expect(200);
          expect(Date.now() - started).toBeLessThan(7_000);
          expect(res.text).toMatch(/^sessions_created_total \d+$/m);
        } finally {
          await admin.query(`ALTER DATABASE "${state.db.name}" ALLOW_CONNECTIONS true`);
          await admin.end();
        }
        await register().then((address) => login(address).expect(200));
        const res = await scrape().expect(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        expect(res.headers['cache-control']).toBe('no-store');
      });

      it('answers 503 with the generic body, no stack and no detail, when a collector throws', async () => {
        // A real collector in the registry /metrics reads, failing as a broken one would.
        const name = `demo_hardening_broken_${adapter}`;
        new Gauge({
          name,
          help: 'fails on purpose',
          collect() {
            throw new Error('collector exploded at /secret/path.ts:12');
          },
        });
        try {
          const res = await scrape().expect(503);
          expect(res.body).toEqual({ statusCode: 503, message: 'Service Unavailable' });
          expect(res.text).not.toMatch(/exploded|secret|\bat \S+ \(/);
        } finally {
          registry.removeSingleMetric(name);
        }
        await scrape().expect(200);
      });

      it.each<[string, Record<string, string>]>([
        ['no Authorization', {}],
        ['a wrong token', { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` }],
        ['the token without Bearer', { Authorization: TOKEN }],
        ['the token as Basic', { Authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }],
      ])('answers 401 for %s, with no metrics', async (_label, headers) => {
        const res = await http().get('/metrics').set(headers).expect(401);
        expect(res.body).toEqual(UNAUTHORIZED);
        expect(res.text).not.toContain('sessions_');
      });
    });
  });

  describe('pages, passwords and registration', () => {
    const { state, http, register, login } = demo({ LOGIN_IP_LIMIT: 'off' });

    it('the pages carry helmet\'s headers, HSTS included (the cookie is Secure), and keep their own CSP', async () => {
      const user = await register();
      const cookie = setCookie((await http().post('/login').type('form').send({ email: user, password: PASSWORD }).expect(303)).headers, COOKIE)!;
      const pages = [
        await http().get('/login').expect(200),
        await http().get('/account').set('Cookie', `${COOKIE}=${cookie.value}`).expect(200),
        // Rendered by the pages' error filter after the guard refused: the headers are there too.
        await http().post('/login').type('form').send({ email: user, password: 'wrong password!' }).expect(401),
      ];
      for (const page of pages) {
        expect(page.headers).toMatchObject({
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'same-origin',
          'x-frame-options': 'DENY',
          'strict-transport-security': 'max-age=31536000; includeSubDomains',
          'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        });
      }
    });

    it('answers Cache-Control: no-store wherever a token or personal data goes out', async () => {
      const user = await register();
      const res = await login(user).expect(200);
      const bearer = { Authorization: `Bearer ${res.body.token as string}` };
      const cookie = setCookie((await http().post('/login').type('form').send({ email: user, password: PASSWORD }).expect(303)).headers, COOKIE)!;
      for (const answer of [
        res,
        await http().get('/me').set(bearer).expect(200),
        await http().get('/sessions').set(bearer).expect(200),
        await http().get('/account').set('Cookie', `${COOKIE}=${cookie.value}`).expect(200),
        await http().post('/auth/logout').set(bearer).expect(204),
      ]) {
        expect(answer.headers['cache-control']).toBe('no-store');
      }
    });

    it('answers 401, not 400, for a wrong password of any length, and for an email that is no address', async () => {
      const user = await register();
      for (const password of ['x', 'short', 'y'.repeat(129), 'z'.repeat(5_000)]) {
        expect((await login(user, password).expect(401)).body).toEqual((await login(email(), password).expect(401)).body);
      }
      await login('not-an-email', 'wrong password!').expect(401);
      const page = await http().post('/login').type('form').send({ email: user, password: 'x' }).expect(401);
      expect(page.text).toContain('Invalid email or password.');
    });

    counting('registration answers a new and a taken email alike, and a taken one changes nothing', async () => {
      const address = email();
      const fresh = await http().post('/auth/register').send({ email: address, password: PASSWORD }).expect(201);
      const taken = await http().post('/auth/register').send({ email: address.toUpperCase(), password: 'another password' }).expect(201);
      expect(taken.body).toEqual(fresh.body);
      expect(fresh.body).toEqual({ message: 'If that email was not registered yet, it is now: log in with it.' });
      for (const res of [fresh, taken]) expect(res.headers['set-cookie']).toBeUndefined();
      await login(address, 'another password').expect(401);
      await login(address).expect(200);

      // The form: both go back to the login page with the same notice, and no session.
      const forms = await Promise.all(
        [email(), address].map((a) => http().post('/register').type('form').send({ email: a, password: 'yet another one' }).expect(303)),
      );
      for (const res of forms) {
        expect(res.headers.location).toBe('/login?registered');
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      expect((await http().get('/login?registered').expect(200)).text).toContain('If that email was not registered yet, it is now: log in with it.');
      // The policy still applies where it belongs.
      expect((await http().post('/auth/register').send({ email: email(), password: 'short' }).expect(400)).body.message).toEqual(['password must be at least 8 characters']);
    });

    counting('a hash made at the old scrypt cost (N=2^15) logs in once and is stored at N=2^17 from then on', async () => {
      const address = email();
      // The stored format, written independently of the demo's code: scrypt$N$r$p$salt$hash.
      const salt = randomBytes(16);
      const key = scryptSync(PASSWORD.normalize('NFKC'), salt, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
      const old = ['scrypt', 2 ** 15, 8, 1, salt.toString('base64url'), key.toString('base64url')].join('$');
      const db = new pg.Client({ connectionString: state.db.url });
      await db.connect();
      try {
        await db.query('INSERT INTO users (email, password_hash) VALUES ($1, $2)', [address, old]);
        const stored = async () => (await db.query('SELECT password_hash FROM users WHERE email = $1', [address])).rows[0].password_hash as string;
        await login(address, 'wrong password!').expect(401);
        expect(await stored()).toBe(old);

        await login(address).expect(200);
        const upgraded = await stored();
        expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
        expect(upgraded.split('$')[4]).not.toBe(salt.toString('base64url'));
        await login(address).expect(200);
        await login(address, 'wrong password!').expect(401);
        expect(await stored()).toBe(upgraded);
      } finally {
        await db.end();
      }
    });
  });
});
