import { jest } from '@jest/globals';
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import memjs from 'memjs';
import { DataSource } from 'typeorm';
import {
  CreateSessionDetails1765000000000,
  CreateSessionsTable1763856000000,
  hashToken,
  SessionEntity,
  SessionOptionsError,
  type SessionStore,
  type StoredSession,
  TypeOrmSessionStore,
} from '../src/index.js';
import { decodeSession, encodeSession, MAX_ENTRY_BYTES } from '../src/stores/tiered/memcached-entry.js';
import { MemcachedSessionCache } from '../src/stores/tiered/memcached-session.cache.js';
import { TieredSessionStore } from '../src/stores/tiered/tiered-session.store.js';
import { generateToken } from '../src/tokens/opaque-token.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { AWKWARD_DATA, fullDetails, HOUR } from './support/details-fixtures.js';
import { describeMemcachedDetailsThroughService } from './support/details-memcached-service.js';

const MEMCACHED = process.env.TEST_MEMCACHED ?? '127.0.0.1:11211';
const PREFIX = `nss-details-${randomBytes(4).toString('hex')}:`;
const SECRET = 'the-memcached-secret-of-the-details-tests-012345';

let db: TestDatabase;
let dataSource: DataSource;
let inner: TypeOrmSessionStore;
let cache: MemcachedSessionCache;
let tiered: TieredSessionStore;
let probe: memjs.Client;
let innerFinds = 0;
const closers: (() => Promise<unknown>)[] = [];

const raw = async (tokenHash: Buffer): Promise<Buffer | null> => (await probe.get(PREFIX + tokenHash.toString('base64url'))).value;

function session(details = fullDetails(Date.now(), AWKWARD_DATA)): StoredSession {
  const now = Date.now();
  return { id: '9007199254740993', userId: 'usér-ü', tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now - 1_000), details };
}

/** A session in PostgreSQL (through the tier, which primes the cache with it). */
function login(data: Record<string, unknown> = {}): Promise<StoredSession> {
  const now = Date.now();
  return tiered.create({ userId: `user-${randomBytes(6).toString('hex')}`, tokenHash: hashToken(generateToken()), expiresAt: new Date(now + HOUR), createdAt: new Date(now), details: fullDetails(now, data) });
}

beforeAll(async () => {
  probe = memjs.Client.create(MEMCACHED, { retries: 1, logger: { log: () => undefined } });
  db = await createTestDatabase('nss_mcd');
  dataSource = new DataSource({ type: 'postgres', url: db.url, entities: [SessionEntity], migrations: [CreateSessionsTable1763856000000, CreateSessionDetails1765000000000] });
  await dataSource.initialize();
  await dataSource.runMigrations();
  inner = new TypeOrmSessionStore(dataSource, { details: true });
  const find = inner.findByTokenHash.bind(inner);
  inner.findByTokenHash = (tokenHash) => {
    innerFinds += 1;
    return find(tokenHash);
  };
  cache = new MemcachedSessionCache({ servers: MEMCACHED, keyPrefix: PREFIX, secret: SECRET });
  await cache.ping();
  tiered = new TieredSessionStore(inner, cache, { ttlMs: 60_000 });
});

afterAll(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  await tiered?.close();
  probe?.close();
  await dataSource?.destroy();
  await db?.drop();
});

describe('the Memcached entry with details', () => {
  it('round-trips every field in format 2: the version-1 head, then the user id and the JSON, each length-prefixed', () => {
    const original = session();
    const encoded = encodeSession(original)!;
    expect(encoded[0]).toBe(2);
    const userAt = 15 + 32 + Buffer.byteLength(original.id);
    const userLength = encoded.readUInt16BE(userAt);
    expect(encoded.toString('utf8', userAt + 2, userAt + 2 + userLength)).toBe(original.userId);
    const jsonAt = userAt + 2 + userLength + 4;
    expect(encoded.length).toBe(jsonAt + encoded.readUInt32BE(jsonAt - 4));
    const { details } = original;
    expect(JSON.parse(encoded.toString('utf8', jsonAt))).toStrictEqual({
      ua: details!.userAgent,
      dv: details!.device,
      ip: details!.ip,
      ls: details!.lastSeenAt!.getTime(),
      ra: details!.reauthenticatedAt!.getTime(),
      d: AWKWARD_DATA,
    });
    expect(decodeSession(encoded)).toStrictEqual(original);
    const nulls = session({ userAgent: null, device: null, ip: null, lastSeenAt: null, reauthenticatedAt: null, data: {} });
    expect(decodeSession(encodeSession(nulls)!)).toStrictEqual(nulls);
  });

  it('still reads version 1, and writes it for a session without details', () => {
    const { details: _, ...plain } = session();
    // Laid out by hand as the previous release wrote it.
    const id = Buffer.from(plain.id);
    const v1 = Buffer.concat([
      Buffer.from([1]),
      Buffer.from(plain.expiresAt.getTime().toString(16).padStart(12, '0'), 'hex'),
      Buffer.from(plain.createdAt.getTime().toString(16).padStart(12, '0'), 'hex'),
      Buffer.from([32]),
      plain.tokenHash,
      Buffer.from([id.length]),
      id,
      Buffer.from(plain.userId),
    ]);
    const decoded = decodeSession(v1);
    expect(decoded).toStrictEqual(plain);
    expect(decoded).not.toHaveProperty('details');
    expect(encodeSession(plain)).toEqual(v1);
  });

  it('refuses a truncated, padded or mistyped entry, and does not encode one over the item size', () => {
    const encoded = encodeSession(session())!;
    expect(decodeSession(encoded.subarray(0, encoded.length - 1))).toBeNull();
    expect(decodeSession(Buffer.concat([encoded, Buffer.from(' ')]))).toBeNull();
    expect(decodeSession(Buffer.concat([Buffer.from([3]), encoded.subarray(1)]))).toBeNull();
    // The same entry with other JSON: well-formed, but not details.
    const jsonAt = 15 + 32 + 16 + 2 + Buffer.byteLength('usér-ü') + 4;
    const withJson = (text: string) => {
      const json = Buffer.from(text);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(json.length);
      return Buffer.concat([encoded.subarray(0, jsonAt - 4), length, json]);
    };
    expect(decodeSession(withJson('{"ua":null,"dv":null,"ip":null,"ls":null,"ra":null,"d":{}}'))).not.toBeNull();
    expect(decodeSession(withJson('{"ua":null,"dv":null,"ip":null,"ls":"yesterday","ra":null,"d":{}}'))).toBeNull();
    expect(decodeSession(withJson('{"ua":null,"dv":null,"ip":null,"ls":null,"ra":null,"d":[]}'))).toBeNull();
    expect(decodeSession(withJson('{"ua":'))).toBeNull();
    const large = session(fullDetails(Date.now(), { blob: 'x'.repeat(MAX_ENTRY_BYTES) }));
    expect(encodeSession(large)).toBeNull();
  });

  it('survives the trip through memcached', async () => {
    const original = session();
    await cache.set(original, 60_000);
    // Version 2 inside the signed envelope (version 3, 7 bytes of head).
    expect((await raw(original.tokenHash))?.[0]).toBe(3);
    expect((await raw(original.tokenHash))?.[7]).toBe(2);
    expect(await cache.get(original.tokenHash)).toStrictEqual(original);
  });
});

describe('TieredSessionStore with details, over PostgreSQL', () => {
  it('serves the details from a cache hit, as the store of record has them', async () => {
    const created = await login(AWKWARD_DATA);
    const finds = innerFinds;
    const hit = await tiered.findByTokenHash(created.tokenHash);
    expect(innerFinds).toBe(finds);
    expect(hit?.details).toStrictEqual(created.details);
    expect((await inner.findByTokenHash(created.tokenHash))?.details).toStrictEqual(created.details);
  });

  it('after mergeData, a read through the tier sees the new data at once, and a slow fill cannot bring the old back', async () => {
    const created = await login({ a: 1 });
    const old = await tiered.findByTokenHash(created.tokenHash);
    expect(await tiered.mergeData!(created.tokenHash, { a: null, b: [2, []] }, 4096, new Date())).toStrictEqual({ data: { b: [2, []] } });
    expect(await raw(created.tokenHash)).toBeNull();
    // A fill that read the row before the merge, landing after it.
    await cache.set(old!, 60_000);
    expect((await tiered.findByTokenHash(created.tokenHash))?.details?.data).toStrictEqual({ b: [2, []] });
  });

  it('after markReauthenticated, a read through the tier sees the new time at once', async () => {
    const created = await login();
    expect((await tiered.findByTokenHash(created.tokenHash))?.details?.reauthenticatedAt).toEqual(created.details!.reauthenticatedAt);
    const at = new Date(Date.now() + 5_000);
    expect((await tiered.markReauthenticated!(created.tokenHash, at))?.details?.reauthenticatedAt).toEqual(at);
    expect(await raw(created.tokenHash)).toBeNull();
    expect((await tiered.findByTokenHash(created.tokenHash))?.details?.reauthenticatedAt).toEqual(at);
    expect(await tiered.markReauthenticated!(hashToken(generateToken()), at)).toBeNull();
  });

  it('leaves the cached entry alone when nothing was written: over the bound, or no session', async () => {
    const created = await login({ a: 1 });
    expect(await tiered.mergeData!(created.tokenHash, { big: 'x'.repeat(200) }, 100, new Date())).toStrictEqual({ tooLarge: true });
    expect(await tiered.mergeData!(hashToken(generateToken()), { a: 2 }, 4096, new Date())).toBeNull();
    expect(await raw(created.tokenHash)).not.toBeNull();
    const finds = innerFinds;
    expect((await tiered.findByTokenHash(created.tokenHash))?.details?.data).toEqual({ a: 1 });
    expect(innerFinds).toBe(finds);
  });

  it('rewrites the cached entry with the lastSeenAt of a sliding write', async () => {
    const created = await login();
    const [expiresAt, seenAt] = [new Date(Date.now() + 2 * HOUR), new Date(Date.now() + 1_000)];
    expect(await tiered.extendExpiry(created, expiresAt, new Date(Date.now() + 3 * HOUR), new Date(), seenAt)).toBe(true);
    const finds = innerFinds;
    const hit = await tiered.findByTokenHash(created.tokenHash);
    expect(innerFinds).toBe(finds);
    expect(hit?.expiresAt).toEqual(expiresAt);
    expect(hit?.details?.lastSeenAt).toEqual(seenAt);
    expect((await inner.findByTokenHash(created.tokenHash))?.details?.lastSeenAt).toEqual(seenAt);
  });

  it('passes touch to the store of record: of 300 concurrent touches, one writes', async () => {
    const created = await login();
    const seenAt = new Date(Date.now() + 120_000);
    const results = await Promise.all(Array.from({ length: 300 }, () => tiered.touch!(created, seenAt, new Date(seenAt.getTime() - 59_999))));
    console.log(`tier touch: ${results.filter(Boolean).length} write(s) of ${results.length}`);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await inner.findByTokenHash(created.tokenHash))?.details?.lastSeenAt).toEqual(seenAt);
  });

  it('rejects a change it could not evict, and stops using the cache for that hash', async () => {
    const down = new MemcachedSessionCache({ servers: '127.0.0.1:1', keyPrefix: PREFIX, timeoutMs: 200, secret: SECRET });
    const cut = new TieredSessionStore(inner, down, { evictionRetryMs: 60_000 });
    const created = await login();
    await expect(cut.mergeData!(created.tokenHash, { a: 1 }, 4096, new Date())).rejects.toThrow(/could not be evicted/);
    expect(cut.pendingEvictions).toBe(1);
    expect((await inner.findByTokenHash(created.tokenHash))?.details?.data).toEqual({ a: 1 });
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      await cut.close();
      expect(logged).toHaveBeenCalledWith(expect.stringMatching(/^closing with 1 revoked session\(s\) still in the cache/));
    } finally {
      logged.mockRestore();
    }
  });

  it('offers the details methods only where the store of record has them, and its ready()', async () => {
    const required = ['create', 'findByTokenHash', 'extendExpiry', 'replaceTokenHash', 'deleteByTokenHash', 'deleteById', 'deleteByUser', 'listByUser', 'deleteExpired'] as const;
    const bare = Object.fromEntries(required.map((name) => [name, (inner[name] as (...a: unknown[]) => unknown).bind(inner)])) as unknown as SessionStore;
    const plain = new TieredSessionStore(bare, cache);
    for (const name of ['touch', 'markReauthenticated', 'mergeData', 'bindDeviceKey', 'acceptDeviceProof'] as const) {
      expect(typeof plain[name]).toBe('undefined');
      expect(typeof tiered[name]).toBe('function');
    }
    await expect(plain.ready()).resolves.toBeUndefined();

    const bareDb = await createTestDatabase('nss_mcd_bare');
    const source = new DataSource({ type: 'postgres', url: bareDb.url, entities: [SessionEntity], migrations: [CreateSessionsTable1763856000000] });
    closers.push(() => bareDb.drop(), () => source.destroy());
    await source.initialize();
    await source.runMigrations();
    const lacking = new TieredSessionStore(new TypeOrmSessionStore(source, { details: true }), cache);
    await expect(lacking.ready()).rejects.toBeInstanceOf(SessionOptionsError);
    await expect(tiered.ready()).resolves.toBeUndefined();
  });
});

describeMemcachedDetailsThroughService();
