import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDemo, startDemo } from './support/demo-process.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nss-demo-'));
  await buildDemo();
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function json(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...init.headers } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe('npm start with no DATABASE_URL', () => {
  it('runs on the embedded database and keeps sessions across a restart', async () => {
    const pgliteDir = join(dir, 'pglite');
    const first = await startDemo({ PGLITE_DIR: pgliteDir });
    let token: string;
    try {
      const credentials = JSON.stringify({ email: 'ada@example.test', password: 'correct horse battery' });
      expect((await json(`${first.url}/auth/register`, { method: 'POST', body: credentials })).status).toBe(201);
      const login = await json(`${first.url}/auth/login`, { method: 'POST', body: credentials });
      expect(login.status).toBe(200);
      token = login.body.token;
      expect((await json(`${first.url}/me`, { headers: { authorization: `Bearer ${token}` } })).body).toMatchObject({ email: 'ada@example.test' });
      // No METRICS_TOKEN, no /metrics.
      expect((await fetch(`${first.url}/metrics`)).status).toBe(404);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await startDemo({ PGLITE_DIR: pgliteDir });
    try {
      const me = await json(`${second.url}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me).toEqual({
        status: 200,
        body: {
          id: expect.any(String),
          email: 'ada@example.test',
          // The first user to register is the demo's admin.
          context: { admin: true, permissions: ['admin'], sessions: { max: null }, memberSince: expect.any(String) },
        },
      });
      expect((await json(`${second.url}/health`)).status).toBe(200);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  }, 180_000);

  it.each([
    [{ SESSION_MAX_AGE: 'banana' }, 'SESSION_MAX_AGE: got "banana"'],
    [{ SESSION_MAX_AGE: '1h', SESSION_UPDATE_AGE: '2h' }, 'SESSION_UPDATE_AGE: SessionModule option "updateAge": got "2h"'],
    [{ COOKIE_SECURE: 'maybe' }, 'COOKIE_SECURE: got "maybe"; expected true or false.'],
    [{ PORT: 'http' }, 'PORT: got "http"'],
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL: expected a PostgreSQL URL'],
    [{ SESSION_STORAGE: 'mongo' }, 'SESSION_STORAGE: got "mongo"; expected database, redis or memcached.'],
    [{ SESSION_CACHE_SIZE: 'lots' }, 'SESSION_CACHE_SIZE: got "lots"'],
    [{ SESSION_CACHE_TTL: '-1' }, 'SESSION_CACHE_TTL: got "-1"'],
    [{ SESSION_STORAGE: 'redis', REDIS_URL: 'http://localhost' }, 'REDIS_URL: SessionModule option "storage.url": got "http://localhost"'],
    [{ SESSION_STORAGE: 'redis', REDIS_URL: 'redis://127.0.0.1:1' }, 'REDIS_URL: SessionModule option "storage.url": could not reach Redis at redis://127.0.0.1:1'],
    [{ SESSION_STORAGE: 'memcached', MEMCACHED_URL: '127.0.0.1:1', SESSION_CACHE_SECRET: 'c'.repeat(48) }, 'MEMCACHED_URL: SessionModule option "storage.servers": could not reach Memcached at 127.0.0.1:1'],
    [{ SESSION_STORAGE: 'memcached' }, 'SESSION_CACHE_SECRET: missing; SESSION_STORAGE=memcached signs what it caches with a secret of at least 32 bytes'],
    [{ LOGIN_EMAIL_LIMIT: '0' }, 'LOGIN_EMAIL_LIMIT: got "0"; expected a positive whole number of failed logins per email.'],
    [{ LOGIN_IP_LIMIT: 'lots' }, 'LOGIN_IP_LIMIT: got "lots"; expected a positive whole number of login attempts per address, or off.'],
    [{ LOGIN_THROTTLE_WINDOW: '0' }, 'LOGIN_THROTTLE_WINDOW: got "0"'],
    [{ METRICS_TOKEN: 'short' }, 'METRICS_TOKEN: got a 5-byte token; expected at least 32 bytes'],
    [{ SESSION_CLEANUP_SCHEDULE: '75 * *' }, 'SESSION_CLEANUP_SCHEDULE: SessionModule option "cleanup.schedule": minute "75" in "75 * *" is not 0-59 or *'],
    [{ SESSION_TOKEN_TYPE: 'jwt' }, 'SESSION_JWT_SECRET: missing; SESSION_TOKEN_TYPE=jwt needs a secret of at least 32 bytes'],
    [{ SESSION_TOKEN_TYPE: 'jws' }, 'SESSION_TOKEN_TYPE: got "jws"; expected opaque or jwt.'],
    [{ SESSION_REFRESH_TOKEN: 'true' }, 'SESSION_JWT_SECRET: missing; SESSION_REFRESH_TOKEN=true needs a secret'],
    [{ SESSION_REFRESH_TOKEN: 'often' }, 'SESSION_REFRESH_TOKEN: got "often"; expected true or false.'],
    [{ SESSION_MAX_PER_USER: '0' }, 'SESSION_MAX_PER_USER: got "0"; expected a positive whole number'],
    [{ SESSION_MAX_PER_USER: '20000' }, 'SESSION_MAX_PER_USER: SessionModule option "maxSessionsPerUser": got 20000; expected a whole number from 1 to 10000.'],
    [{ SESSION_BIND_USER_AGENT: 'maybe' }, 'SESSION_BIND_USER_AGENT: got "maybe"; expected true or false.'],
  ])('stops at start on a bad %p, naming the variable', async (env, message) => {
    // A demo that starts after all is stopped again, so a failing case leaves no process behind.
    const started = startDemo({ PGLITE_DIR: join(dir, 'unused'), ...env }).then(async (demo) => {
      await demo.stop();
      return demo;
    });
    await expect(started).rejects.toMatchObject({ code: 1, output: expect.stringContaining(message) });
  }, 60_000);

  it('stops at start on a short SESSION_JWT_SECRET without printing it', async () => {
    const secret = 'not-32-bytes-' + randomBytes(6).toString('hex');
    const started = startDemo({ PGLITE_DIR: join(dir, 'unused'), SESSION_TOKEN_TYPE: 'jwt', SESSION_JWT_SECRET: secret }).then(async (demo) => {
      await demo.stop();
      return demo;
    });
    const error = (await started.then(() => undefined, (e: unknown) => e)) as { code?: number; output?: string } | undefined;
    expect(error).toMatchObject({ code: 1, output: expect.stringContaining(`SESSION_JWT_SECRET: got a ${secret.length}-byte secret; expected at least 32 bytes`) });
    expect(error!.output).not.toContain(secret);
  }, 60_000);

  it('runs with JWTs, refresh tokens, a session limit and user-agent binding from the environment', async () => {
    const secret = randomBytes(48).toString('base64');
    const demo = await startDemo({
      PGLITE_DIR: join(dir, 'secure'),
      SESSION_TOKEN_TYPE: 'jwt',
      SESSION_JWT_SECRET: secret,
      SESSION_REFRESH_TOKEN: 'true',
      SESSION_MAX_PER_USER: '2',
      SESSION_BIND_USER_AGENT: 'true',
    });
    try {
      const agent = { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0' };
      const credentials = JSON.stringify({ email: 'grace@example.test', password: 'correct horse battery' });
      expect((await json(`${demo.url}/auth/register`, { method: 'POST', body: credentials })).status).toBe(201);
      const login = await json(`${demo.url}/auth/login`, { method: 'POST', body: credentials, headers: agent });
      expect(login.status).toBe(200);
      expect(login.body.token.split('.')).toHaveLength(3);
      const me = await json(`${demo.url}/me`, { headers: { ...agent, authorization: `Bearer ${login.body.token}` } });
      expect(me.body).toMatchObject({ email: 'grace@example.test', context: { admin: true, sessions: { max: 2 } } });
      expect((await json(`${demo.url}/me`, { headers: { 'user-agent': 'curl/8.5.0', authorization: `Bearer ${login.body.token}` } })).status).toBe(401);

      const refreshed = await json(`${demo.url}/auth/refresh`, { method: 'POST', body: JSON.stringify({ refreshToken: login.body.refreshToken }), headers: agent });
      expect(refreshed.status).toBe(200);
      expect((await json(`${demo.url}/admin`, { headers: { ...agent, authorization: `Bearer ${refreshed.body.token}` } })).body).toEqual({ users: 1 });
      // Sent again at once, as a client retrying after a 503 would: the same pair, nothing ended
      // (a replay after the grace ends the login: demo-security, on a clock that can jump).
      const retry = await json(`${demo.url}/auth/refresh`, { method: 'POST', body: JSON.stringify({ refreshToken: login.body.refreshToken }), headers: agent });
      expect(retry).toMatchObject({ status: 200, body: { token: refreshed.body.token, refreshToken: refreshed.body.refreshToken } });
      await json(`${demo.url}/auth/logout`, { method: 'POST', headers: { ...agent, authorization: `Bearer ${refreshed.body.token}` } });
      expect((await json(`${demo.url}/me`, { headers: { ...agent, authorization: `Bearer ${refreshed.body.token}` } })).status).toBe(401);
      expect((await json(`${demo.url}/auth/refresh`, { method: 'POST', body: JSON.stringify({ refreshToken: refreshed.body.refreshToken }), headers: agent })).status).toBe(401);
      expect(demo.output()).not.toContain(secret);
    } finally {
      expect(await demo.stop()).toBe(0);
    }
  }, 120_000);
});
