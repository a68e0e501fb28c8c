import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';
import pg from 'pg';
import request from 'supertest';
import { createDemoApp } from '../sample/app.js';
import type { DemoAppOptions } from '../sample/app.module.js';
import { DemoConfigError, readDemoConfig } from '../sample/config.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { listen } from './support/http.js';

// The demo's hardening settings as readDemoConfig reads them, and the login throttling on
// Redis (SESSION_STORAGE=redis): two instances share one count, in scripts run by Redis, with
// windows on Redis's clock (so the window here is short and really waited for).

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSWORD = 'correct horse battery';

function configError(env: NodeJS.ProcessEnv): DemoConfigError {
  try {
    readDemoConfig(env);
  } catch (error) {
    if (error instanceof DemoConfigError) return error;
    throw error;
  }
  throw new Error(`readDemoConfig accepted ${JSON.stringify(env)}`);
}

describe('demo hardening configuration', () => {
  it('defaults: 10 failures per email and 100 attempts per address in 15 minutes, no /metrics, the __Host- cookie', () => {
    const config = readDemoConfig({});
    expect(config.loginThrottle).toEqual({ emailLimit: 10, ipLimit: 100, window: '15m' });
    expect(config.metricsToken).toBeUndefined();
    expect(config.session.cookie).toEqual({ name: '__Host-session', secure: true, sameSite: 'lax' });
  });

  it('reads LOGIN_EMAIL_LIMIT, LOGIN_IP_LIMIT (or off), LOGIN_THROTTLE_WINDOW, METRICS_TOKEN and COOKIE_SECURE=false', () => {
    const token = randomBytes(32).toString('base64');
    const config = readDemoConfig({ LOGIN_EMAIL_LIMIT: '5', LOGIN_IP_LIMIT: 'off', LOGIN_THROTTLE_WINDOW: '1h', METRICS_TOKEN: token, COOKIE_SECURE: 'false' });
    expect(config.loginThrottle).toEqual({ emailLimit: 5, ipLimit: false, window: '1h' });
    expect(config.metricsToken).toBe(token);
    expect(config.session.cookie).toEqual({ name: 'session', secure: false, sameSite: 'lax' });
    expect(readDemoConfig({ LOGIN_IP_LIMIT: '20' }).loginThrottle.ipLimit).toBe(20);
  });

  it.each<[NodeJS.ProcessEnv, string, string]>([
    [{ LOGIN_EMAIL_LIMIT: '0' }, 'LOGIN_EMAIL_LIMIT', 'LOGIN_EMAIL_LIMIT: got "0"; expected a positive whole number of failed logins per email.'],
    [{ LOGIN_EMAIL_LIMIT: 'ten' }, 'LOGIN_EMAIL_LIMIT', 'LOGIN_EMAIL_LIMIT: got "ten";'],
    [{ LOGIN_IP_LIMIT: '-1' }, 'LOGIN_IP_LIMIT', 'LOGIN_IP_LIMIT: got "-1"; expected a positive whole number of login attempts per address, or off.'],
    [{ LOGIN_THROTTLE_WINDOW: 'soon' }, 'LOGIN_THROTTLE_WINDOW', 'LOGIN_THROTTLE_WINDOW: got "soon"; expected a duration'],
  ])('refuses %p, naming the variable', (env, variable, message) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toContain(message);
  });

  it('refuses a METRICS_TOKEN under 32 bytes or with whitespace, and never repeats it', () => {
    for (const token of ['hunter2hunter2', 'x'.repeat(31), `${'y'.repeat(32)} z`]) {
      const error = configError({ METRICS_TOKEN: token });
      expect(error.variable).toBe('METRICS_TOKEN');
      expect(error.message).toMatch(/^METRICS_TOKEN: got a \d+-byte token/);
      expect(`${error.message}\n${error.stack}`).not.toContain(token);
    }
  });
});

describe('login throttling on Redis', () => {
  // Each run its own key prefix: the counts of another run (or file) must not leak in.
  const prefix = `hard${randomBytes(4).toString('hex')}:`;
  const run = randomBytes(3).toString('hex');
  let seq = 0;
  const email = () => `shared${++seq}-${run}@example.test`;
  let db: TestDatabase;
  const apps: INestApplication[] = [];
  const redis = new Redis(REDIS_URL, { lazyConnect: true });

  async function instance(extra: Partial<DemoAppOptions> = {}): Promise<string> {
    const { session, loginThrottle } = readDemoConfig({ SESSION_STORAGE: 'redis', REDIS_URL, LOGIN_IP_LIMIT: 'off' });
    const storage = { type: 'redis' as const, url: REDIS_URL, keyPrefix: prefix };
    const app = await createDemoApp({ databaseUrl: db.url, loginThrottle, session: { ...session, storage, cleanup: false }, ...extra });
    apps.push(app);
    return listen(app);
  }
  const login = (base: string, address: string, password = PASSWORD) => request(base).post('/auth/login').send({ email: address, password });
  const register = async (base: string) => {
    const address = email();
    await request(base).post('/auth/register').send({ email: address, password: PASSWORD }).expect(201);
    return address;
  };
  const keys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}login:*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found;
  };

  beforeAll(async () => {
    db = await createTestDatabase('nss_demo_hard_redis');
    await redis.connect();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await db?.drop();
    const left = await redis.keys(`${prefix}*`);
    if (left.length) await redis.del(...left);
    await redis.quit();
  });

  it('two instances share one count: 5 failures on each, then both answer 429', async () => {
    const a = await instance();
    const b = await instance();
    const victim = await register(a);
    const bystander = await register(b);
    for (let i = 0; i < 5; i++) await login(a, victim, 'wrong password!').expect(401);
    for (let i = 0; i < 5; i++) await login(b, victim, 'wrong password!').expect(401);
    for (const base of [a, b]) {
      const res = await login(base, victim).expect(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(14 * 60);
      expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(15 * 60);
    }
    await login(b, bystander).expect(200);

    // One counter per email, under the store's prefix, hashed (no address in a key), expiring with its window.
    const found = await keys();
    expect(found.filter((k) => k.startsWith(`${prefix}login:email:`))).toHaveLength(2);
    expect(found.join(' ')).not.toContain('example.test');
    for (const key of found) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(14 * 60_000);
      expect(ttl).toBeLessThanOrEqual(15 * 60_000);
    }
    // The victim's count: 10 failures, the two refused attempts, the successes taken back.
    const counts = await Promise.all(found.map((k) => redis.get(k)));
    expect(counts.map(Number).sort((x, y) => x - y)).toEqual([0, 12]);
  });

  it('concurrent guesses spread over two instances: exactly the limit are tried', async () => {
    const [a, b] = [await instance({ loginThrottle: { ipLimit: false } }), await instance({ loginThrottle: { ipLimit: false } })];
    const user = await register(a);
    const statuses = await Promise.all(Array.from({ length: 24 }, (_, i) => login(i % 2 ? a : b, user, `guess ${i}`).then((r) => r.status)));
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(14);
  });

  it('a login that could not check its password (the database away: 503) counts nothing', async () => {
    const base = await instance({ loginThrottle: { emailLimit: 2, ipLimit: false } });
    const user = await register(base);
    const admin = new pg.Client({ connectionString: db.url.replace(`/${db.name}`, '/postgres') });
    await admin.connect();
    try {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name]);
      for (let i = 0; i < 4; i++) await login(base, user).expect(503);
    } finally {
      await admin.query(`ALTER DATABASE "${db.name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    // Past the limit of 2 had those counted; a wrong password still counts once the database is back.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await login(base, user)).status;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);
    await login(base, user, 'wrong password!').expect(401);
    await login(base, user, 'wrong password!').expect(401);
    await login(base, user).expect(429);
  });

  it('the window passes on Redis\'s clock (a 5-second one here, with a limit of one failure)', async () => {
    // One failure only: the window starts at it, and one scrypt check fits in it on a busy machine.
    const base = await instance({ loginThrottle: { emailLimit: 1, ipLimit: false, window: '5s' } });
    const user = await register(base);
    await login(base, user, 'wrong password!').expect(401);
    const locked = await login(base, user).expect(429);
    const retryAfter = Number(locked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(5);
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));
    await login(base, user).expect(200);
  });
});
