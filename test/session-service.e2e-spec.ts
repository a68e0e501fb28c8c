import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { hashToken, type SessionModuleOptions, SessionStoreUnavailableException, TOKEN_LENGTH, UnknownSessionUserError } from '../src/index.js';
import { createSessionTestApp, resetCalls, type SessionTestAppBase, totalCalls } from './support/app.js';
import { TestClock } from './support/clock.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { InMemoryInvalidationHub } from './support/in-memory-invalidation.bus.js';
import { InMemorySessionStore } from './support/in-memory-session.store.js';
import { createStandaloneSessionTestApp } from './support/standalone-app.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

// The same behaviour, whatever keeps the sessions. Each run gets its own database and key prefix.
const prefix = `t${randomBytes(4).toString('hex')}:`;

/** What differs between stores, where the behaviour may (the rest of the suite holds for all). */
interface Traits {
  /** PostgreSQL holds the users: the app has TypeORM. Without it the app has none at all. */
  orm: boolean;
  /** Writes are SQL statements (an expiry slide is an UPDATE). */
  sql: boolean;
  /** Deleting the user deletes its sessions too (the foreign key). */
  cascades: boolean;
  /** Expired sessions go by themselves; the purge only tidies up. */
  expiresItself: boolean;
  /** Everything the store holds, as text, to search for a raw token; unset: the SQL sent is searched. */
  kept?: () => Promise<string>;
  /** More options for this store's app. */
  options?: Omit<SessionModuleOptions, 'resolveUser'>;
}

// Everything under the prefix, values included.
async function redisKept(): Promise<string> {
  let kept = '';
  const redis = new Redis('redis://127.0.0.1:6379');
  try {
    for (const key of await redis.keys(`${prefix}*`)) {
      const type = await redis.type(key);
      const value = type === 'string' ? await redis.get(key) : type === 'hash' ? await redis.hgetall(key) : await redis.zrange(key, '0', '-1');
      kept += key + JSON.stringify(value);
    }
  } finally {
    redis.disconnect();
  }
  return kept;
}

const memory = new InMemorySessionStore();
const STORAGES: [string, SessionModuleOptions['storage'], Traits][] = [
  ['database', { type: 'database' }, { orm: true, sql: true, cascades: true, expiresItself: false }],
  ['redis', { type: 'redis', url: 'redis://127.0.0.1:6379', keyPrefix: prefix }, { orm: false, sql: false, cascades: false, expiresItself: true, kept: redisKept }],
  ['memcached', { type: 'memcached', servers: '127.0.0.1:11211', keyPrefix: prefix, secret: randomBytes(32) }, { orm: true, sql: true, cascades: false, expiresItself: false }],
  // A store written in the test, plugged in through the option: the contract is the interface.
  ['in-memory (custom)', memory, { orm: false, sql: false, cascades: false, expiresItself: false, kept: async () => memory.dump(), options: { broadcast: new InMemoryInvalidationHub().bus() } }],
];

describe.each(STORAGES)('SessionService on %s storage', (storageName, storage, traits) => {
  let db: TestDatabase | undefined;
  let t: SessionTestAppBase;
  // Near the wall clock: Redis expires keys by real time, the service by this clock.
  const clock = new TestClock(Date.now());

  beforeAll(async () => {
    const options = { maxAge: '1h', updateAge: '10m', purgeBatchSize: 100, clock: clock.now, storage, ...traits.options };
    if (traits.orm) {
      db = await createTestDatabase(`nss_svc_${storageName}`);
      t = await createSessionTestApp(db.url, options);
    } else {
      // No TypeORM at all, as a Redis-only app or one with its own store has.
      t = await createStandaloneSessionTestApp(options);
    }
  });

  afterAll(async () => {
    await t?.close();
    await db?.drop();
  });

  beforeEach(() => {
    t.recorder.clear();
    resetCalls(t.storeCalls);
  });

  // What the store holds for a token, read through the store itself (any storage).
  const stored = (token: string) => t.store.findByTokenHash(hashToken(token));

  describe('createSession', () => {
    it('issues a 43-character base64url token and stores only its SHA-256', async () => {
      const userId = await t.createUser();
      const { token, session } = await t.sessions.createSession({ userId });

      expect(token).toHaveLength(TOKEN_LENGTH);
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(session).toEqual({ id: expect.stringMatching(/^\d+$/), userId, expires: new Date(clock.now() + HOUR), createdAt: new Date(clock.now()) });
      expect(Object.keys(session).sort()).toEqual(['createdAt', 'expires', 'id', 'userId']);

      const kept = await stored(token);
      expect(kept!.tokenHash.equals(hashToken(token))).toBe(true);
      expect(kept!.expiresAt).toEqual(session.expires);
    });

    it('gives every session its own token', async () => {
      const userId = await t.createUser();
      const tokens = await Promise.all(Array.from({ length: 50 }, () => t.sessions.createSession({ userId }).then((s) => s.token)));
      expect(new Set(tokens).size).toBe(50);
    });

    it('takes an explicit first expiry, and refuses one in the past or a bad user id', async () => {
      const userId = await t.createUser();
      const expires = new Date(clock.now() + 5 * MINUTE);
      const { session } = await t.sessions.createSession({ userId, expires });
      expect(session.expires).toEqual(expires);

      await expect(t.sessions.createSession({ userId, expires: new Date(clock.now()) })).rejects.toThrow(/expires must be a Date in the future/);
      await expect(t.sessions.createSession({ userId: '' })).rejects.toThrow(/userId must be/);
      await expect(t.sessions.createSession({ userId: 1.5 })).rejects.toThrow(/userId must be/);
    });
  });

  describe('validateSession', () => {
    it('returns the user of a live session, and null for an unknown token', async () => {
      const userId = await t.createUser('alice-validate@example.test');
      const { token } = await t.sessions.createSession({ userId });

      await expect(t.sessions.validateSession(token)).resolves.toEqual({ id: userId, email: 'alice-validate@example.test' });
      const unknown = 'A'.repeat(42) + 'A';
      await expect(t.sessions.validateSession(unknown)).resolves.toBeNull();
    });

    it.each([
      ['empty', ''],
      ['too short', 'a'.repeat(42)],
      ['too long', 'a'.repeat(44)],
      ['padded', 'a'.repeat(42) + '='],
      ['standard base64 alphabet', 'a'.repeat(41) + '+A'],
      ['a slash', 'a'.repeat(41) + '/A'],
      ['non-canonical last character', 'a'.repeat(42) + 'B'],
      ['a space', 'a'.repeat(21) + ' ' + 'a'.repeat(20) + 'A'],
      ['non-ASCII', 'é'.repeat(42) + 'A'],
      ['a number', 12345],
      ['null', null],
      ['undefined', undefined],
      ['an object', { token: 'x' }],
    ])('refuses a token that is %s with no query at all', async (_label, token) => {
      await expect(t.sessions.validateSession(token)).resolves.toBeNull();
      await expect(t.sessions.revokeSession(token)).resolves.toBe(false);
      await expect(t.sessions.rotateSession(token)).resolves.toBeNull();
      expect(t.recorder.count()).toBe(0);
      expect(totalCalls(t.storeCalls)).toBe(0);
    });

    it('refuses a session whose user resolves to null', async () => {
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      await t.disableUser(userId);
      await expect(t.sessions.validateSession(token)).resolves.toBeNull();
    });

    it('refuses a session for a user the users table lacks as a mistake of the caller naming the table, not as an outage', async () => {
      const ghost = randomUUID();
      if (traits.orm) {
        for (const userId of [ghost, 'not-a-uuid']) {
          const error: unknown = await t.sessions.createSession({ userId }).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(UnknownSessionUserError);
          expect(error).not.toBeInstanceOf(SessionStoreUnavailableException);
          expect((error as UnknownSessionUserError).userId).toBe(userId);
        }
        const error = (await t.sessions.createSession({ userId: ghost }).catch((e: unknown) => e)) as Error;
        expect(error.message).toMatch(/is not present in table "users"/);
      } else {
        // Nothing ties a session to a users table here: its user is refused when it is used.
        const { token } = await t.sessions.createSession({ userId: ghost });
        await expect(t.sessions.validateSession(token)).resolves.toBeNull();
      }
    });

    it('refuses the session of a deleted user (the database also cascades the delete)', async () => {
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      await t.deleteUser(userId);
      // Memcached may still hold the row until its ttl: the user check refuses it all the same.
      if (traits.cascades) expect(await stored(token)).toBeNull();
      await expect(t.sessions.validateSession(token)).resolves.toBeNull();
    });
  });

  describe('expiry', () => {
    it('holds until the last millisecond before expires, and not at it', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const [a, b] = await Promise.all([t.sessions.createSession({ userId }), t.sessions.createSession({ userId })]);
      try {
        clock.set(start + HOUR - 1);
        expect(await t.sessions.validateSession(a.token)).not.toBeNull();
        clock.set(start + HOUR);
        await expect(t.sessions.validateSession(b.token)).resolves.toBeNull();
      } finally {
        clock.set(start);
      }
    });

    it('writes the expiry only once updateAge has passed, then slides it to now + maxAge', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const { token, session } = await t.sessions.createSession({ userId });
      try {
        clock.set(start + 10 * MINUTE - 1);
        const early = await t.sessions.authenticate(token);
        expect(early).toMatchObject({ refreshed: false, session: { expires: session.expires } });
        expect(t.storeCalls.extendExpiry).toBe(0);

        clock.set(start + 10 * MINUTE);
        const due = await t.sessions.authenticate(token);
        expect(due).toMatchObject({ refreshed: true, session: { expires: new Date(start + 10 * MINUTE + HOUR) } });
        expect(t.storeCalls.extendExpiry).toBe(1);
        expect((await stored(token))!.expiresAt).toEqual(new Date(start + 10 * MINUTE + HOUR));
      } finally {
        clock.set(start);
      }
    });

    it('keeps a session used once per maxAge alive for hours, and lets an idle one die', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const used = await t.sessions.createSession({ userId });
      const idle = await t.sessions.createSession({ userId });
      try {
        for (let step = 1; step <= 10; step++) {
          clock.set(start + step * 50 * MINUTE);
          expect(await t.sessions.validateSession(used.token)).not.toBeNull();
        }
        await expect(t.sessions.validateSession(idle.token)).resolves.toBeNull();
      } finally {
        clock.set(start);
      }
    });

    it('makes exactly one expiry write for 200 concurrent validations at refresh time', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      try {
        clock.set(start + 30 * MINUTE);
        t.recorder.clear();
        resetCalls(t.storeCalls);
        const results = await Promise.all(Array.from({ length: 200 }, () => t.sessions.authenticate(token)));
        expect(results.every((r) => r?.user.id === userId && r.session.expires.getTime() === start + 90 * MINUTE)).toBe(true);
        expect(t.storeCalls.extendExpiry).toBe(1);
        expect(t.recorder.count('UPDATE')).toBe(traits.sql ? 1 : 0);
        expect((await stored(token))!.expiresAt).toEqual(new Date(start + 90 * MINUTE));

        // The next burst sees the new expiry and writes nothing.
        resetCalls(t.storeCalls);
        await Promise.all(Array.from({ length: 20 }, () => t.sessions.authenticate(token)));
        expect(t.storeCalls.extendExpiry).toBe(0);
      } finally {
        clock.set(start);
      }
    });
  });

  describe('revokeSession', () => {
    it('kills the token and is idempotent', async () => {
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      await expect(t.sessions.revokeSession(token)).resolves.toBe(true);
      await expect(t.sessions.revokeSession(token)).resolves.toBe(false);
      await expect(t.sessions.validateSession(token)).resolves.toBeNull();
      expect(await stored(token)).toBeNull();
    });

    it('refuses every validation that starts after it returns, even amid a burst', async () => {
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      const before = Array.from({ length: 20 }, () => t.sessions.validateSession(token));
      await t.sessions.revokeSession(token);
      const after = await Promise.all(Array.from({ length: 20 }, () => t.sessions.validateSession(token)));
      await Promise.all(before);
      expect(after.every((u) => u === null)).toBe(true);
    });
  });

  describe('invalidating a user\'s sessions', () => {
    it('revokeAllUserSessions ends every session of that user and no one else\'s', async () => {
      const alice = await t.createUser();
      const bob = await t.createUser();
      const a = await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId: alice })));
      const b = await t.sessions.createSession({ userId: bob });

      await expect(t.sessions.revokeAllUserSessions(alice)).resolves.toBe(3);
      for (const s of a) await expect(t.sessions.validateSession(s.token)).resolves.toBeNull();
      expect(await t.sessions.validateSession(b.token)).toMatchObject({ id: bob });
      await expect(t.sessions.revokeAllUserSessions(alice)).resolves.toBe(0);
    });

    it('revokeOtherUserSessions keeps the current session only', async () => {
      const userId = await t.createUser();
      const [current, ...others] = await Promise.all([1, 2, 3].map(() => t.sessions.createSession({ userId })));
      await expect(t.sessions.revokeOtherUserSessions(userId, current.session.id)).resolves.toBe(2);
      expect(await t.sessions.validateSession(current.token)).toMatchObject({ id: userId });
      for (const s of others) await expect(t.sessions.validateSession(s.token)).resolves.toBeNull();
    });

    it('revokeUserSession ends a session for its owner only', async () => {
      const alice = await t.createUser();
      const mallory = await t.createUser();
      const target = await t.sessions.createSession({ userId: alice });

      await expect(t.sessions.revokeUserSession(mallory, target.session.id)).resolves.toBe(false);
      expect(await t.sessions.validateSession(target.token)).toMatchObject({ id: alice });

      t.recorder.clear();
      resetCalls(t.storeCalls);
      for (const bad of ['', 'abc', '1; DROP TABLE sessions', '-1', '0', '99999999999999999999', '9223372036854775808', '1.5']) {
        await expect(t.sessions.revokeUserSession(alice, bad)).resolves.toBe(false);
      }
      expect(t.recorder.count()).toBe(0);
      expect(totalCalls(t.storeCalls)).toBe(0);

      await expect(t.sessions.revokeUserSession(alice, target.session.id)).resolves.toBe(true);
      await expect(t.sessions.validateSession(target.token)).resolves.toBeNull();
      await expect(t.sessions.revokeUserSession(alice, target.session.id)).resolves.toBe(false);
    });
  });

  describe('rotateSession', () => {
    it('gives the session a new token and kills the old one, keeping its id and age', async () => {
      const userId = await t.createUser();
      const old = await t.sessions.createSession({ userId });
      const rotated = await t.sessions.rotateSession(old.token);

      expect(rotated!.token).not.toBe(old.token);
      expect(rotated!.session).toEqual(old.session);
      await expect(t.sessions.validateSession(old.token)).resolves.toBeNull();
      expect(await t.sessions.validateSession(rotated!.token)).toMatchObject({ id: userId });
    });

    it('lets one of two concurrent rotations win', async () => {
      const userId = await t.createUser();
      const old = await t.sessions.createSession({ userId });
      const results = await Promise.all([t.sessions.rotateSession(old.token), t.sessions.rotateSession(old.token)]);
      const winners = results.filter((r) => r !== null);
      expect(winners).toHaveLength(1);
      await expect(t.sessions.validateSession(old.token)).resolves.toBeNull();
      expect(await t.sessions.validateSession(winners[0]!.token)).toMatchObject({ id: userId });
    });

    it('refuses an expired or unknown session', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const { token } = await t.sessions.createSession({ userId });
      try {
        clock.set(start + HOUR);
        await expect(t.sessions.rotateSession(token)).resolves.toBeNull();
        await expect(t.sessions.rotateSession('Q'.repeat(43))).resolves.toBeNull();
      } finally {
        clock.set(start);
      }
    });
  });

  describe('listUserSessions', () => {
    it('lists the live sessions of one user, newest first', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const other = await t.createUser();
      try {
        const first = await t.sessions.createSession({ userId, expires: new Date(start + 5 * MINUTE) });
        clock.set(start + 1000);
        const second = await t.sessions.createSession({ userId });
        await t.sessions.createSession({ userId: other });

        expect(await t.sessions.listUserSessions(userId)).toEqual([second.session, first.session]);
        clock.set(start + 5 * MINUTE);
        expect(await t.sessions.listUserSessions(userId)).toEqual([second.session]);
      } finally {
        clock.set(start);
      }
    });
  });

  describe('purgeExpiredSessions', () => {
    it('removes expired sessions and leaves live ones', async () => {
      const start = clock.now();
      const userId = await t.createUser();
      const doomed = await Promise.all(Array.from({ length: 250 }, () => t.sessions.createSession({ userId, expires: new Date(start + MINUTE) })));
      const live = await t.sessions.createSession({ userId });
      try {
        clock.set(start + 2 * MINUTE);
        resetCalls(t.storeCalls);
        const purged = await t.sessions.purgeExpiredSessions();
        if (traits.expiresItself) {
          // Redis expires keys by itself; the purge only tidies indexes.
          expect(purged).toBeGreaterThanOrEqual(0);
        } else {
          // 250 rows or more at 100 a statement: at least three batches, the last one short.
          expect(purged).toBeGreaterThanOrEqual(250);
          expect(t.storeCalls.deleteExpired).toBeGreaterThanOrEqual(3);
          for (const s of doomed.slice(0, 10)) expect(await stored(s.token)).toBeNull();
        }
        for (const s of doomed.slice(0, 10)) await expect(t.sessions.validateSession(s.token)).resolves.toBeNull();
        expect(await t.sessions.validateSession(live.token)).toMatchObject({ id: userId });
        expect((await t.sessions.listUserSessions(userId)).map((s) => s.id)).toEqual([live.session.id]);
        if (!traits.expiresItself) await expect(t.sessions.purgeExpiredSessions()).resolves.toBe(0);
      } finally {
        clock.set(start);
      }
    });
  });

  describe('the raw token', () => {
    it('never reaches the database, in any statement or parameter', async () => {
      const userId = await t.createUser();
      t.recorder.clear();
      const { token } = await t.sessions.createSession({ userId });
      await t.sessions.validateSession(token);
      const rotated = await t.sessions.rotateSession(token);
      await t.sessions.validateSession(rotated!.token);
      await t.sessions.revokeSession(rotated!.token);

      const sent = JSON.stringify(t.recorder.queries.map((q) => [q.sql, q.params.map((p) => (Buffer.isBuffer(p) ? p.toString('latin1') : p))]));
      let kept = '';
      if (traits.kept) {
        kept = await traits.kept();
        expect(kept.length).toBeGreaterThan(0);
      } else {
        expect(t.recorder.count()).toBeGreaterThanOrEqual(5);
      }
      for (const raw of [token, rotated!.token]) {
        for (const where of [sent, kept]) {
          expect(where).not.toContain(raw);
          expect(where).not.toContain(Buffer.from(raw, 'base64url').toString('latin1'));
        }
      }
    });
  });
});
