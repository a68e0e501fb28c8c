import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { hashToken, type SessionModuleOptions } from '../src/index.js';
import { createSessionTestApp, resetCalls, type SessionTestApp, type SessionTestAppBase, totalCalls } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { InMemoryInvalidationHub } from './support/in-memory-invalidation.bus.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { createStandaloneSessionTestApp, MemoryUsers } from './support/standalone-app.js';

const MINUTE = 60_000;

describe('the session cache', () => {
  let db: TestDatabase;
  let t: SessionTestApp;
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    db = await createTestDatabase('nss_cache');
    t = await createSessionTestApp(db.url, { maxAge: '1h', updateAge: '10m', absoluteMaxAge: '2h', cache: { ttl: '5m', size: 3 }, clock: clock.now });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });
  beforeEach(() => {
    t.recorder.clear();
    resetCalls(t.storeCalls);
  });

  it('serves a hit with no query at all, user included', async () => {
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    await t.sessions.validateSession(token);
    t.recorder.clear();
    resetCalls(t.storeCalls);

    for (let i = 0; i < 50; i++) expect(await t.sessions.validateSession(token)).toMatchObject({ id: userId });
    expect(t.recorder.count()).toBe(0);
    expect(totalCalls(t.storeCalls)).toBe(0);
  });

  it('holds at most `size` sessions, dropping the least recently used', async () => {
    const userId = await t.createUser();
    const sessions = await Promise.all([1, 2, 3, 4].map(() => t.sessions.createSession({ userId })));
    for (const s of sessions) await t.sessions.validateSession(s.token);
    resetCalls(t.storeCalls);

    // The last three are cached; the first was pushed out by the fourth.
    for (const s of sessions.slice(1)) await t.sessions.validateSession(s.token);
    expect(t.storeCalls.findByTokenHash).toBe(0);
    await t.sessions.validateSession(sessions[0].token);
    expect(t.storeCalls.findByTokenHash).toBe(1);
  });

  it('asks the store again once the cache ttl has passed', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    try {
      await t.sessions.validateSession(token);
      clock.set(start + 5 * MINUTE - 1);
      resetCalls(t.storeCalls);
      await t.sessions.validateSession(token);
      expect(t.storeCalls.findByTokenHash).toBe(0);
      clock.set(start + 5 * MINUTE);
      await t.sessions.validateSession(token);
      expect(t.storeCalls.findByTokenHash).toBe(1);
    } finally {
      clock.set(start);
    }
  });

  it('never serves an entry past its session\'s absolute cap', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    // Kept alive by use until 12 minutes before the 2-hour cap: the entries cached on the way
    // still end at the cap.
    const capped = await t.sessions.createSession({ userId });
    try {
      for (let at = 30 * MINUTE; at <= 2 * 60 * MINUTE - 12 * MINUTE; at += 26 * MINUTE) {
        clock.set(start + at);
        expect(await t.sessions.validateSession(capped.token)).not.toBeNull();
      }
      clock.set(start + 2 * 60 * MINUTE - 1);
      expect(await t.sessions.validateSession(capped.token)).not.toBeNull();
      resetCalls(t.storeCalls);
      clock.set(start + 2 * 60 * MINUTE);
      await expect(t.sessions.validateSession(capped.token)).resolves.toBeNull();
      expect(t.storeCalls.findByTokenHash).toBe(1);
    } finally {
      clock.set(start);
    }
  });

  it('drops a session at once when this instance revokes it', async () => {
    const userId = await t.createUser();
    const a = await t.sessions.createSession({ userId });
    const b = await t.sessions.createSession({ userId });
    await t.sessions.validateSession(a.token);
    await t.sessions.revokeSession(a.token);
    await expect(t.sessions.validateSession(a.token)).resolves.toBeNull();

    await t.sessions.validateSession(b.token);
    const rotated = await t.sessions.rotateSession(b.token);
    await expect(t.sessions.validateSession(b.token)).resolves.toBeNull();
    expect(await t.sessions.validateSession(rotated!.token)).toMatchObject({ id: userId });
  });
});

describe('a cache ttl longer than the sessions', () => {
  let db: TestDatabase;
  let t: SessionTestApp;
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    db = await createTestDatabase('nss_cache_long');
    t = await createSessionTestApp(db.url, { maxAge: '3m', updateAge: '1m', cache: { ttl: '1h', size: 100 }, clock: clock.now });
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('drops an entry when its session expires, not when the ttl ends', async () => {
    const start = clock.now();
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    try {
      expect(await t.sessions.validateSession(token)).not.toBeNull();
      clock.set(start + 59_000);
      resetCalls(t.storeCalls);
      expect(await t.sessions.validateSession(token)).not.toBeNull();
      expect(t.storeCalls.findByTokenHash).toBe(0);

      // Unused since: it expires at start + 3m, an hour before the entry's ttl would end.
      clock.set(start + 3 * MINUTE);
      await expect(t.sessions.validateSession(token)).resolves.toBeNull();
      expect(t.storeCalls.findByTokenHash).toBe(1);
    } finally {
      clock.set(start);
    }
  });

});

// Revocation on one instance reaches the other's warm cache: database (LISTEN/NOTIFY), Redis
// (pub/sub), Memcached (its entries deleted, LISTEN/NOTIFY for the local caches), and a store
// and a bus of the app's own (the test's, in memory). Redis and the app's own store run in
// apps without TypeORM, sharing their users in memory.
const prefix = `x${randomBytes(4).toString('hex')}:`;
const hub = new InMemoryInvalidationHub();
const memory = new InMemorySessionStore();
const STORAGES: [string, SessionModuleOptions['storage'], { orm: boolean; broadcast?: () => SessionModuleOptions['broadcast'] }][] = [
  ['database', { type: 'database' }, { orm: true }],
  ['redis', { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: prefix }, { orm: false }],
  ['memcached', { type: 'memcached', servers: '127.0.0.1:11211', keyPrefix: prefix, secret: randomBytes(32) }, { orm: true }],
  // One store for both instances, as one database would be; each instance its own bus.
  ['in-memory (custom)', memory, { orm: false, broadcast: () => hub.bus() }],
];

const TRIALS = 20;
export const revocationTimes: Record<string, number[]> = {};

describe.each(STORAGES)('two instances on %s storage', (storageName, storage, { orm, broadcast }) => {
  let db: TestDatabase | undefined;
  let a: SessionTestAppBase;
  let b: SessionTestAppBase;

  beforeAll(async () => {
    if (orm) {
      db = await createTestDatabase(`nss_two_${storageName}`);
      a = await createSessionTestApp(db.url, { storage });
      b = await createSessionTestApp(db.url, { storage });
    } else {
      // Both count the calls to a shared store (b's counts include a's): only b calls it while b's are read.
      const users = new MemoryUsers();
      a = await createStandaloneSessionTestApp({ storage, broadcast: broadcast?.() }, users);
      b = await createStandaloneSessionTestApp({ storage, broadcast: broadcast?.() }, users);
    }
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
    const times = (revocationTimes[storageName] ?? []).sort((x, y) => x - y);
    if (times.length) {
      // For the closing note: how long a revocation takes to reach the other instance.
      process.stdout.write(`revocation ${storageName}: median ${times[times.length >> 1].toFixed(1)} ms, worst ${times[times.length - 1].toFixed(1)} ms over ${times.length}\n`);
    }
  });

  // Polls B (warm cache, so without the broadcast it would keep answering) until it refuses.
  async function refusedOnB(tokens: string[]): Promise<number> {
    const started = performance.now();
    for (;;) {
      const answers = await Promise.all(tokens.map((token) => b.sessions.validateSession(token)));
      const elapsed = performance.now() - started;
      if (answers.every((u) => u === null)) return elapsed;
      if (elapsed > 1_000) throw new Error(`B still accepts a revoked session after ${elapsed.toFixed(0)} ms`);
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async function warm(tokens: string[]): Promise<void> {
    for (const token of tokens) expect(await b.sessions.validateSession(token)).not.toBeNull();
    resetCalls(b.storeCalls);
    for (const token of tokens) expect(await b.sessions.validateSession(token)).not.toBeNull();
    expect(b.storeCalls.findByTokenHash).toBe(0);
  }

  it(`refuses on B, within 100 ms, a logout made on A (${TRIALS} trials)`, async () => {
    const times: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const userId = await a.createUser();
      const { token } = await a.sessions.createSession({ userId });
      await warm([token]);
      await a.sessions.revokeSession(token);
      times.push(await refusedOnB([token]));
    }
    (revocationTimes[storageName] ??= []).push(...times);
    expect(times.sort((x, y) => x - y)[times.length >> 1]).toBeLessThan(100);
    expect(Math.max(...times)).toBeLessThan(100);
  });

  it('refuses on B a logout-all, a revoke by id and a rotation made on A', async () => {
    const userId = await a.createUser();
    const all = await Promise.all([1, 2, 3].map(() => a.sessions.createSession({ userId })));
    await warm(all.map((s) => s.token));
    await a.sessions.revokeAllUserSessions(userId);
    expect(await refusedOnB(all.map((s) => s.token))).toBeLessThan(100);

    const [one, two] = await Promise.all([1, 2].map(() => a.sessions.createSession({ userId })));
    await warm([one.token, two.token]);
    await a.sessions.revokeUserSession(userId, one.session.id);
    expect(await refusedOnB([one.token])).toBeLessThan(100);
    await a.sessions.rotateSession(two.token);
    expect(await refusedOnB([two.token])).toBeLessThan(100);
  });

  if (storageName === 'memcached') {
    it('leaves no revoked entry in Memcached for a cold instance to find', async () => {
      const userId = await a.createUser();
      const { token } = await a.sessions.createSession({ userId });
      await b.sessions.validateSession(token);
      await a.sessions.revokeSession(token);
      const cold = await createSessionTestApp(db!.url, { storage, cache: false });
      try {
        await expect(cold.sessions.validateSession(token)).resolves.toBeNull();
        expect(await cold.store.findByTokenHash(hashToken(token))).toBeNull();
      } finally {
        await cold.close();
      }
    });
  }
});

describe('a lost invalidation listener', () => {
  let db: TestDatabase;
  let t: SessionTestApp;

  beforeAll(async () => {
    db = await createTestDatabase('nss_listener');
    t = await createSessionTestApp(db.url, {});
  });
  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  it('empties the cache when its connection is killed, and listens again', async () => {
    const userId = await t.createUser();
    const { token } = await t.sessions.createSession({ userId });
    await t.sessions.validateSession(token);
    resetCalls(t.storeCalls);
    await t.sessions.validateSession(token);
    expect(t.storeCalls.findByTokenHash).toBe(0);

    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nestjs-sessions-invalidation'`,
        [db.name],
      );
      expect(killed.rowCount).toBe(1);

      // The cache was emptied: the next validation asks the store.
      await waitFor(async () => {
        resetCalls(t.storeCalls);
        await t.sessions.validateSession(token);
        return t.storeCalls.findByTokenHash === 1;
      });

      // Listening again: a revocation announced by another instance evicts here.
      await waitFor(async () => {
        const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'nestjs-sessions-invalidation'`, [db.name]);
        return rows[0].n === 1;
      });
      const other = await createSessionTestApp(db.url, {});
      try {
        await t.sessions.validateSession(token);
        await other.sessions.revokeSession(token);
        await waitFor(async () => (await t.sessions.validateSession(token)) === null);
      } finally {
        await other.close();
      }
    } finally {
      await admin.end();
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
