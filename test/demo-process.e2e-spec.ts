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
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const second = await startDemo({ PGLITE_DIR: pgliteDir });
    try {
      const me = await json(`${second.url}/me`, { headers: { authorization: `Bearer ${token}` } });
      expect(me).toEqual({ status: 200, body: { id: expect.any(String), email: 'ada@example.test' } });
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
    [{ SESSION_STORAGE: 'memcached', MEMCACHED_URL: '127.0.0.1:1' }, 'MEMCACHED_URL: SessionModule option "storage.servers": could not reach Memcached at 127.0.0.1:1'],
    [{ SESSION_CLEANUP_SCHEDULE: '75 * *' }, 'SESSION_CLEANUP_SCHEDULE: SessionModule option "cleanup.schedule": minute "75" in "75 * *" is not 0-59 or *'],
    [{ SESSION_TOKEN_TYPE: 'jwt' }, 'SESSION_TOKEN_TYPE: is not supported by this version of the demo yet'],
  ])('stops at start on a bad %p, naming the variable', async (env, message) => {
    // A demo that starts after all is stopped again, so a failing case leaves no process behind.
    const started = startDemo({ PGLITE_DIR: join(dir, 'unused'), ...env }).then(async (demo) => {
      await demo.stop();
      return demo;
    });
    await expect(started).rejects.toMatchObject({ code: 1, output: expect.stringContaining(message) });
  }, 60_000);
});
