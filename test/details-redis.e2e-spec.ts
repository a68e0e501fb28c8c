import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisSessionStore, type StoredSession } from '../src/index.js';
import { AWKWARD_DATA, draftSession, fullDetails, HOUR, jsonBytes } from './support/details-fixtures.js';
import { DEVICE_KEY, deviceBoundContract } from './support/details-contract.js';
import { describeRedisDetailsThroughService } from './support/details-redis-service.js';

// The store alone on the loopback Redis, then SessionService over it (support/details-redis-service.ts).
const prefix = `nss-details:${randomBytes(6).toString('hex')}:`;
let client: Redis;
let other: Redis;
let store: RedisSessionStore;
// A second store on a connection of its own, as another instance would have.
let otherStore: RedisSessionStore;
let users = 0;

const newUser = () => `user-${++users}-${randomBytes(3).toString('hex')}`;
const tokenKey = (hash: Buffer) => `${prefix}t:${hash.toString('base64url')}`;
const later = (ms: number) => new Date(Date.now() + ms);

beforeAll(async () => {
  client = new Redis({ host: '127.0.0.1', port: 6379 });
  other = new Redis({ host: '127.0.0.1', port: 6379 });
  store = new RedisSessionStore(client, { keyPrefix: prefix });
  otherStore = new RedisSessionStore(other, { keyPrefix: prefix });
});

afterAll(async () => {
  const keys = await client.keys(`${prefix}*`);
  if (keys.length > 0) await client.del(...keys);
  await Promise.all([client.quit(), other.quit()]);
});

async function withDetails(data: Record<string, unknown> = {}): Promise<StoredSession> {
  return store.create(draftSession(newUser(), fullDetails(Date.now(), data)));
}

describe('RedisSessionStore details', () => {
  it('gives back every field of the details from each read that returns a session', async () => {
    const draft = draftSession(newUser(), fullDetails(Date.now(), AWKWARD_DATA));
    const created = await store.create(draft);
    expect(created.details).toStrictEqual(draft.details);
    expect(await store.findByTokenHash(draft.tokenHash)).toStrictEqual(created);
    expect(await store.listByUser(draft.userId, new Date())).toStrictEqual([created]);

    const rotated = randomBytes(32);
    expect(await store.replaceTokenHash(draft.tokenHash, rotated, new Date())).toStrictEqual({ ...created, tokenHash: rotated });
    expect(await store.findByTokenHash(draft.tokenHash)).toBeNull();
    expect((await store.findByTokenHash(rotated))?.details).toStrictEqual(draft.details);
    expect((await store.deleteByTokenHash(rotated))?.details).toStrictEqual(draft.details);

    const [a, b] = [await withDetails({ n: 1 }), await withDetails({ n: 2 })];
    expect((await store.deleteById(a.userId, a.id))?.details?.data).toEqual({ n: 1 });
    expect((await store.deleteByUser(b.userId)).map((s) => s.details?.data)).toEqual([{ n: 2 }]);
  });

  it('keeps null fields null, and a session created without details has none, nor the marker', async () => {
    const draft = draftSession(newUser(), { userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: null, data: {} });
    expect((await store.create(draft)).details).toStrictEqual(draft.details);
    expect((await store.findByTokenHash(draft.tokenHash))?.details).toStrictEqual(draft.details);

    const plain = draftSession(newUser());
    const created = await store.create(plain);
    expect(created).not.toHaveProperty('details');
    const found = await store.findByTokenHash(plain.tokenHash);
    expect(found).not.toBeNull();
    expect(found!.details).toBeUndefined();
    expect(Object.keys(await client.hgetall(tokenKey(plain.tokenHash))).sort()).toEqual(['c', 'e', 'id', 'u']);
  });

  it('sets lastSeenAt with the extension that wins, and not with one that is refused', async () => {
    const session = await withDetails();
    const seen = later(10_000);
    expect(await store.extendExpiry(session, later(2 * HOUR), later(3 * HOUR), new Date(), seen)).toBe(true);
    expect((await store.findByTokenHash(session.tokenHash))?.details?.lastSeenAt).toEqual(seen);
    // Already past ifBefore: nothing written, lastSeenAt included.
    expect(await store.extendExpiry(session, later(4 * HOUR), later(HOUR), new Date(), later(20_000))).toBe(false);
    expect((await store.findByTokenHash(session.tokenHash))?.details?.lastSeenAt).toEqual(seen);
    // Without seenAt the expiry moves and lastSeenAt stays.
    expect(await store.extendExpiry(session, later(5 * HOUR), later(5 * HOUR), new Date())).toBe(true);
    const found = await store.findByTokenHash(session.tokenHash);
    expect(found?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 4 * HOUR);
    expect(found?.details?.lastSeenAt).toEqual(seen);
  });

  describe('touch', () => {
    it('of 300 concurrent touches from two connections, exactly one writes', async () => {
      const session = await withDetails();
      const step = 60_000;
      // A step past the lastSeenAt of its login, so the first touch is due.
      const base = Date.now() + 2 * step;
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => {
          const seenAt = base + (i % 50);
          return (i % 2 ? otherStore : store).touch(session, new Date(seenAt), new Date(seenAt - step + 1));
        }),
      );
      const writes = results.filter(Boolean).length;
      console.log(`touch: ${writes} write(s) of ${results.length} concurrent calls`);
      expect(writes).toBe(1);
      const lastSeen = (await store.findByTokenHash(session.tokenHash))!.details!.lastSeenAt!.getTime();
      expect(lastSeen).toBeGreaterThanOrEqual(base);
      expect(lastSeen).toBeLessThan(base + 50);
    });

    it('writes when lastSeenAt is missing or older than ifSeenBefore, and only on the live session', async () => {
      const session = await store.create(draftSession(newUser(), { ...fullDetails(Date.now()), lastSeenAt: null }));
      const t0 = Date.now() + 10_000;
      const at = (ms: number) => new Date(t0 + ms);
      expect(await store.touch(session, at(1_000), at(0))).toBe(true);
      expect(await store.touch(session, at(2_000), at(1_000))).toBe(false);
      expect(await store.touch(session, at(3_000), at(1_001))).toBe(true);
      expect((await store.findByTokenHash(session.tokenHash))?.details?.lastSeenAt).toEqual(at(3_000));
      // Past its expiry by seenAt, under another id, after a rotation: nothing to touch.
      expect(await store.touch(session, at(2 * HOUR), at(2 * HOUR))).toBe(false);
      expect(await store.touch({ ...session, id: '999999999' }, at(4_000), at(4_000))).toBe(false);
      expect((await store.findByTokenHash(session.tokenHash))?.details?.lastSeenAt).toEqual(at(3_000));
      await store.replaceTokenHash(session.tokenHash, randomBytes(32), new Date());
      expect(await store.touch(session, at(5_000), at(5_000))).toBe(false);
      expect(await client.exists(tokenKey(session.tokenHash))).toBe(0);
    });
  });

  it('markReauthenticated sets the time of a live session and returns it; null otherwise', async () => {
    const session = await withDetails({ keep: 'me' });
    const at = later(5_000);
    const marked = await store.markReauthenticated(session.tokenHash, at);
    expect(marked).toStrictEqual({ ...session, details: { ...session.details!, reauthenticatedAt: at } });
    expect(await store.findByTokenHash(session.tokenHash)).toStrictEqual(marked);
    expect(await store.markReauthenticated(randomBytes(32), at)).toBeNull();
    expect(await store.markReauthenticated(session.tokenHash, later(2 * HOUR))).toBeNull();
    expect((await store.findByTokenHash(session.tokenHash))?.details?.reauthenticatedAt).toEqual(at);
  });

  describe('mergeData', () => {
    it('sets keys, removes the null ones, and gives back arrays and numbers exactly', async () => {
      const session = await withDetails({ a: 1, b: 2 });
      const merged = await store.mergeData(session.tokenHash, { ...AWKWARD_DATA, b: null, gone: null }, 4096, new Date());
      expect(merged).toStrictEqual({ data: { a: 1, ...AWKWARD_DATA } });
      expect((await store.findByTokenHash(session.tokenHash))?.details?.data).toStrictEqual({ a: 1, ...AWKWARD_DATA });
      // An empty patch changes nothing and reports the data.
      expect(await store.mergeData(session.tokenHash, {}, 4096, new Date())).toStrictEqual(merged);
      expect(await store.mergeData(session.tokenHash, { a: null, ...Object.fromEntries(Object.keys(AWKWARD_DATA).map((k) => [k, null])) }, 4096, new Date())).toStrictEqual({ data: {} });
    });

    it('of 50 concurrent merges of different keys from two connections, none is lost', async () => {
      const session = await withDetails({ before: true });
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 ? otherStore : store).mergeData(session.tokenHash, { [`k${i}`]: [i] }, 4096, new Date())),
      );
      results.forEach((result, i) => expect(result && 'data' in result && result.data[`k${i}`]).toEqual([i]));
      const expected = { before: true, ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, [i]])) };
      const data = (await store.findByTokenHash(session.tokenHash))?.details?.data;
      console.log(`mergeData: ${Object.keys(data ?? {}).length - 1} of 50 concurrent keys kept`);
      expect(data).toStrictEqual(expected);
    });

    it('takes a result of exactly maxBytes (in UTF-8 bytes of its JSON), and writes nothing past it', async () => {
      const session = await withDetails({ name: 'é😀' });
      const fits = { name: 'é😀', more: 'x'.repeat(20) };
      const bound = jsonBytes(fits);
      expect(await store.mergeData(session.tokenHash, { more: 'x'.repeat(20) }, bound, new Date())).toStrictEqual({ data: fits });
      const before = await client.hgetall(tokenKey(session.tokenHash));
      expect(await store.mergeData(session.tokenHash, { more: 'x'.repeat(21) }, bound, new Date())).toStrictEqual({ tooLarge: true });
      expect(await store.mergeData(session.tokenHash, { name: null, other: 'y'.repeat(40) }, bound, new Date())).toStrictEqual({ tooLarge: true });
      expect(await client.hgetall(tokenKey(session.tokenHash))).toStrictEqual(before);
      // Removing keys makes room again.
      expect(await store.mergeData(session.tokenHash, { name: null, more: null, other: 'y'.repeat(10) }, bound, new Date())).toStrictEqual({ data: { other: 'y'.repeat(10) } });
    });

    it('is null without a live session, and keeps two sessions of one user apart', async () => {
      expect(await store.mergeData(randomBytes(32), { a: 1 }, 4096, new Date())).toBeNull();
      const userId = newUser();
      const [one, two] = [await store.create(draftSession(userId, fullDetails(Date.now()))), await store.create(draftSession(userId, fullDetails(Date.now())))];
      expect(await store.mergeData(one.tokenHash, { a: 1 }, 4096, later(2 * HOUR))).toBeNull();
      await store.mergeData(one.tokenHash, { a: 1 }, 4096, new Date());
      await store.mergeData(two.tokenHash, { b: 2 }, 4096, new Date());
      const listed = await store.listByUser(userId, new Date());
      expect(Object.fromEntries(listed.map((s) => [s.id, s.details?.data]))).toEqual({ [one.id]: { a: 1 }, [two.id]: { b: 2 } });
      await store.deleteByTokenHash(one.tokenHash);
      expect(await store.mergeData(one.tokenHash, { a: 2 }, 4096, new Date())).toBeNull();
      expect(await client.exists(tokenKey(one.tokenHash))).toBe(0);
    });

    it('gives a session created without details its details, null fields and all', async () => {
      const plain = await store.create(draftSession(newUser()));
      expect(await store.mergeData(plain.tokenHash, { theme: 'dark' }, 4096, new Date())).toStrictEqual({ data: { theme: 'dark' } });
      const details = { userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: null, data: { theme: 'dark' } };
      expect((await store.findByTokenHash(plain.tokenHash))?.details).toStrictEqual(details);

      const other = await store.create(draftSession(newUser()));
      const at = later(1_000);
      expect((await store.markReauthenticated(other.tokenHash, at))?.details).toStrictEqual({ ...details, reauthenticatedAt: at, data: {} });
    });
  });
});

describe('RedisSessionStore with deviceBound', () => {
  describe('the deviceBound contract', () => deviceBoundContract(() => ({ store, newUser: async () => newUser(), withoutDetails: store })));

  it('keeps the key and its last proof as the fields dk and dp, which a rotation carries over', async () => {
    const session = await withDetails({ a: 1 });
    expect(Object.keys(await client.hgetall(tokenKey(session.tokenHash)))).not.toContain('dk');
    const [now, proof] = [new Date(), later(1_000)];
    await store.bindDeviceKey(session.tokenHash, DEVICE_KEY, now, now);
    expect(await otherStore.acceptDeviceProof(session.tokenHash, proof, now)).toStrictEqual({ ...session, details: { ...session.details!, deviceKey: DEVICE_KEY, deviceProofAt: proof } });
    expect(await client.hmget(tokenKey(session.tokenHash), 'dk', 'dp')).toEqual([DEVICE_KEY, String(proof.getTime())]);
    const rotated = randomBytes(32);
    await store.replaceTokenHash(session.tokenHash, rotated, new Date());
    expect(await client.hmget(tokenKey(rotated), 'dk', 'dp')).toEqual([DEVICE_KEY, String(proof.getTime())]);
    await expect(store.bindDeviceKey(rotated, '', now, now)).rejects.toThrow(TypeError);
  });

  it('of 100 concurrent proofs over one challenge from two connections, one is accepted', async () => {
    const session = await withDetails();
    const [now, proof] = [new Date(), later(5_000)];
    await store.bindDeviceKey(session.tokenHash, DEVICE_KEY, now, now);
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => (i % 2 ? otherStore : store).acceptDeviceProof(session.tokenHash, proof, now)));
    expect(results.filter((r) => r !== null)).toHaveLength(1);
  });
});

describeRedisDetailsThroughService();
