import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { generateToken, hashToken, RedisSessionStore, SessionDataTooLargeException, type SessionModuleOptions } from '../../src/index.js';
import { TestClock } from './clock.js';
import { AWKWARD_DATA, CHROME_ON_MAC, HOUR } from './details-fixtures.js';
import { createStandaloneSessionTestApp, MemoryUsers } from './standalone-app.js';

const MINUTE = 60_000;
const CLIENT = { userAgent: CHROME_ON_MAC, ip: '203.0.113.77' };

type App = Awaited<ReturnType<typeof createStandaloneSessionTestApp>>;

/** SessionService with every details option on, over Redis: what an app sees of the store's details. */
export function describeRedisDetailsThroughService(): void {
  describe('SessionService over Redis with details', () => {
    const prefix = `nss-details-svc:${randomBytes(6).toString('hex')}:`;
    const storage = { type: 'redis' as const, url: 'redis://127.0.0.1:6379', keyPrefix: prefix };
    // Redis expires keys on the real clock: the test clock starts there and only moves minutes ahead.
    const clock = new TestClock(Date.now());
    const users = new MemoryUsers();
    const options: Omit<SessionModuleOptions, 'resolveUser'> = {
      storage,
      clock: clock.now,
      maxAge: '1h',
      updateAge: '10m',
      metadata: { userAgent: true, device: true, ip: 'truncated', lastSeen: true },
      reauthentication: true,
      data: true,
    };
    let t: App;
    let redis: Redis;
    const apps: App[] = [];

    beforeAll(async () => {
      redis = new Redis('redis://127.0.0.1:6379');
      t = await createStandaloneSessionTestApp(options, users);
      apps.push(t);
    });

    afterAll(async () => {
      for (const app of apps) await app.close();
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      await redis.quit();
    });

    const login = (userId = users.create()) => t.sessions.createSession({ userId, ...CLIENT });
    const sessionOf = async (token: string) => (await t.sessions.authenticate(token, CLIENT))?.session;

    it('records the metadata at login; authenticate and listUserSessions show it', async () => {
      const issued = await login();
      const metadata = { userAgent: CHROME_ON_MAC, device: 'Chrome on macOS', ip: '203.0.113.0', lastSeenAt: new Date(clock.now()) };
      const session = await sessionOf(issued.token);
      expect(session?.metadata).toEqual(metadata);
      expect(session?.data).toEqual({});
      expect(session?.reauthenticatedAt).toEqual(issued.session.createdAt);
      expect((await t.sessions.listUserSessions(issued.session.userId)).map((s) => s.metadata)).toEqual([metadata]);
    });

    it('moves lastSeenAt with the sliding write', async () => {
      const issued = await login();
      clock.advance(11 * MINUTE);
      const validation = await t.sessions.authenticate(issued.token, CLIENT);
      expect(validation?.refreshed).toBe(true);
      expect(validation?.session.metadata?.lastSeenAt).toEqual(new Date(clock.now()));
      const stored = await t.store.findByTokenHash(hashToken(issued.token));
      expect(stored?.details?.lastSeenAt).toEqual(new Date(clock.now()));
    });

    it('updates data atomically, removes null keys, keeps each session its own, and shows it at once', async () => {
      const userId = users.create();
      const [one, two] = [await login(userId), await login(userId)];
      await sessionOf(one.token); // cached now: the update must evict it
      expect(await t.sessions.updateSessionData(one.token, { ...AWKWARD_DATA, drop: 1 } as never, CLIENT)).toStrictEqual({ ...AWKWARD_DATA, drop: 1 });
      expect(await t.sessions.updateSessionData(one.token, { drop: null, lang: 'fr' } as never, CLIENT)).toStrictEqual({ ...AWKWARD_DATA, lang: 'fr' });
      expect((await sessionOf(one.token))?.data).toStrictEqual({ ...AWKWARD_DATA, lang: 'fr' });
      expect((await sessionOf(two.token))?.data).toEqual({});
      const merges = await Promise.all(Array.from({ length: 50 }, (_, i) => t.sessions.updateSessionData(two.token, { [`k${i}`]: i } as never, CLIENT)));
      expect(merges.every((data) => data !== null)).toBe(true);
      expect(Object.keys((await sessionOf(two.token))?.data ?? {})).toHaveLength(50);
    });

    it('refuses a merge past data.maxBytes with a 413 and writes nothing', async () => {
      const issued = await login();
      await t.sessions.updateSessionData(issued.token, { a: 'x'.repeat(3000) } as never, CLIENT);
      // The patch alone fits; with what the session holds it does not, which only the store knows.
      await expect(t.sessions.updateSessionData(issued.token, { b: 'y'.repeat(3000) } as never, CLIENT)).rejects.toBeInstanceOf(SessionDataTooLargeException);
      expect((await t.store.findByTokenHash(hashToken(issued.token)))?.details?.data).toEqual({ a: 'x'.repeat(3000) });
    });

    it('markReauthenticated renews the time, seen at once through the cache', async () => {
      const issued = await login();
      expect(t.sessions.isFresh((await sessionOf(issued.token))!, 5 * MINUTE)).toBe(true);
      clock.advance(6 * MINUTE);
      expect(t.sessions.isFresh((await sessionOf(issued.token))!, 5 * MINUTE)).toBe(false);
      expect(await t.sessions.markReauthenticated(issued.token, CLIENT)).toBe(true);
      const session = await sessionOf(issued.token);
      expect(session?.reauthenticatedAt).toEqual(new Date(clock.now()));
      expect(t.sessions.isFresh(session!, 5 * MINUTE)).toBe(true);
    });

    it('rotation keeps the details; logout ends them', async () => {
      const issued = await login();
      await t.sessions.updateSessionData(issued.token, { cart: [1, []] } as never, CLIENT);
      clock.advance(MINUTE);
      await t.sessions.markReauthenticated(issued.token, CLIENT);
      const before = await sessionOf(issued.token);
      const rotated = await t.sessions.rotateSession(issued.token, CLIENT);
      expect(rotated).not.toBeNull();
      expect(await t.sessions.authenticate(issued.token, CLIENT)).toBeNull();
      const after = await sessionOf(rotated!.token);
      expect(after?.id).toBe(before?.id);
      expect(after?.data).toStrictEqual({ cart: [1, []] });
      expect(after?.metadata).toEqual(before?.metadata);
      expect(after?.reauthenticatedAt).toEqual(before?.reauthenticatedAt);

      expect(await t.sessions.revokeSession(rotated!.token, CLIENT)).toBe(true);
      expect(await t.sessions.updateSessionData(rotated!.token, { cart: null } as never, CLIENT)).toBeNull();
      expect(await t.sessions.markReauthenticated(rotated!.token, CLIENT)).toBe(false);
      expect(await redis.exists(`${prefix}t:${hashToken(rotated!.token).toString('base64url')}`)).toBe(0);
    });

    it('a session from before the options has no details until data is set, and then has them', async () => {
      const token = generateToken();
      const userId = users.create();
      const now = clock.now();
      // Written by a store that keeps no details, as an app before the options would have.
      await new RedisSessionStore(redis, { keyPrefix: prefix }).create({ userId, tokenHash: hashToken(token), expiresAt: new Date(now + HOUR), createdAt: new Date(now) });
      const session = await sessionOf(token);
      expect(session?.metadata).toBeUndefined();
      expect(session?.data).toEqual({});
      expect(session?.reauthenticatedAt).toEqual(new Date(now));
      expect(await t.sessions.updateSessionData(token, { step: 2 } as never, CLIENT)).toEqual({ step: 2 });
      const updated = await sessionOf(token);
      expect(updated?.data).toEqual({ step: 2 });
      expect(updated?.metadata).toEqual({ userAgent: null, device: null, ip: null, lastSeenAt: null });
    });

    it('with a lastSeen step, a due validation touches the store once', async () => {
      const stepped = await createStandaloneSessionTestApp({ ...options, metadata: { ...options.metadata, lastSeen: '1m' } }, users);
      apps.push(stepped);
      const issued = await stepped.sessions.createSession({ userId: users.create(), ...CLIENT });
      const loginAt = clock.now();
      await stepped.sessions.authenticate(issued.token, CLIENT);
      clock.advance(61_000);
      const touches = stepped.storeCalls.touch ?? 0;
      await Promise.all(Array.from({ length: 5 }, () => stepped.sessions.authenticate(issued.token, CLIENT)));
      const deadline = Date.now() + 2_000;
      let lastSeen: number | undefined = loginAt;
      while (lastSeen === loginAt && Date.now() < deadline) {
        lastSeen = (await stepped.store.findByTokenHash(hashToken(issued.token)))?.details?.lastSeenAt?.getTime();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(lastSeen).toBe(clock.now());
      expect((stepped.storeCalls.touch ?? 0) - touches).toBe(1);
    });
  });
}
